// podpipe studio: the little JavaScript there is (no inline scripts: the CSP forbids them).
"use strict";

// Chapter marks and transcript lines seek the player.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.seek");
  if (!button) return;
  const player = document.getElementById("player");
  if (!player) return;
  player.currentTime = parseFloat(button.dataset.seek || "0");
  player.play().catch(() => {});
});

// The subtitles as a caption line under the player (the VTT comes from the studio itself).
document.addEventListener("DOMContentLoaded", () => {
  const player = document.getElementById("player");
  const caption = document.getElementById("caption");
  if (!player || !caption || !player.textTracks.length) return;
  const track = player.textTracks[0];
  track.mode = "hidden";
  track.addEventListener("cuechange", () => {
    caption.textContent = Array.from(track.activeCues || []).map((cue) => cue.text).join(" ");
  });
});

// Upload with a progress bar: the file goes to the studio (same origin), which hands it to
// what `podpipe upload` does (sidecar first, then the audio into uploads/).
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const uploadId = crypto.randomUUID();
    let polling = null;
    // Second half: the studio sends the file on to S3; it reports the bytes sent so far.
    const pollStorage = () => {
      fetch(`/upload/progress/${uploadId}`).then((reply) => reply.json()).then((state) => {
        if (!polling || !state.total) return;
        const percent = Math.round(50 + (50 * state.sent) / state.total);
        bar.value = Math.min(percent, 99);
        status.textContent = `storing in S3… ${Math.round((100 * state.sent) / state.total)} %`;
      }).catch(() => {});
    };
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
    request.setRequestHeader("X-Upload-Id", uploadId);
    request.responseType = "json";
    // First half of the bar: the browser sends the file to the studio.
    request.upload.addEventListener("progress", (progress) => {
      if (!progress.lengthComputable) return;
      const percent = Math.round((100 * progress.loaded) / progress.total);
      bar.value = Math.round(percent / 2);
      status.textContent = `sending… ${percent} %`;
      if (percent >= 100 && !polling) polling = setInterval(pollStorage, 300);
    });
    request.addEventListener("loadend", () => { clearInterval(polling); polling = null; });
    request.addEventListener("load", () => {
      const reply = request.response || {};
      if (request.status === 200 && reply.episode_id) {
        bar.value = 100;
        status.textContent = "";
        const link = document.createElement("a");
        link.href = reply.url;
        link.id = "uploaded-link";
        link.textContent = `uploaded ${reply.key} — open ${reply.episode_id}`;
        status.appendChild(link);
      } else {
        status.textContent = `error: ${reply.error || request.status}`;
      }
    });
    request.addEventListener("error", () => { status.textContent = "error: the upload failed"; });
    status.textContent = "sending… 0 %";
    request.send(new FormData(form));
  });
});
