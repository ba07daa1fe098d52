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

// Upload with a progress bar: the file goes to the studio (same origin), which hands it to
// what `podpipe upload` does (sidecar first, then the audio into uploads/).
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
    request.responseType = "json";
    request.upload.addEventListener("progress", (progress) => {
      if (!progress.lengthComputable) return;
      const percent = Math.round((100 * progress.loaded) / progress.total);
      bar.value = percent;
      status.textContent = percent < 100 ? `sending… ${percent} %` : "storing in S3…";
    });
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
