"""Video episodes through the transcode handler with REAL ffmpeg on LocalStack S3.

The video is made at test time: the first seconds of the sample episode under a small
testsrc picture. ``video.mp4`` is checked from the outside: moov before mdat (+faststart),
H.264 + AAC, the loudness measured here with ebur128, and that the MP3 never waits for it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from podpipe.events import AudioTranscoded, Event, ObjectCreated, VideoFailed, VideoTranscoded
from podpipe.ffmpeg import probe, run_ffmpeg
from podpipe.layout import EpisodeKeys
from podpipe.runtime.errors import PermanentError
from podpipe.runtime.policy import classify_failure
from podpipe.runtime.service import MessageContext
from podpipe.stages import S3StageLedger
from podpipe_cli.main import app
from podpipe_transcode.backend import FfmpegBackend
from podpipe_transcode.handler import TranscodeConfig, TranscodeHandler
from podpipe_transcode.settings import TranscodeSettings
from podpipe_transcode.store import S3ObjectStore
from tests.support.localstack import Stack
from tests.support.mp4 import assert_moov_before_mdat

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "episode.m4a"
SECONDS = 8
CTX = MessageContext(message_id="m1", queue="transcode", receive_count=1, max_receive_count=3)


def make_video(path: Path, picture: str, *extra: str) -> Path:
    """``picture`` (a lavfi source, maybe with filters) over the sample's first SECONDS."""
    source, comma, filters = picture.partition(",")
    run_ffmpeg(
        [
            *("-f", "lavfi", "-i", f"{source}:d={SECONDS}{comma}{filters}"),
            *("-t", str(SECONDS), "-i", str(SAMPLE)),
            *("-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast"),
            *("-c:a", "aac", "-b:a", "64k", "-shortest", *extra, str(path)),
        ],
        label="make-test-video",
    )
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("video-media")
    web = make_video(folder / "web.mp4", "testsrc=s=160x120:r=10", "-pix_fmt", "yuv420p")
    # A phone's: odd size, 4:4:4, recorded sideways (display matrix), in a mov.
    sideways = make_video(folder / "raw.mov", "testsrc=s=161x121:r=10", "-pix_fmt", "yuv444p")
    rotated = folder / "phone.mov"
    run_ffmpeg(["-display_rotation", "90", "-i", str(sideways), "-c", "copy", str(rotated)])
    # 8 pixels high: no H.264 encoder can take it, but the sound is fine.
    sliver = make_video(folder / "sliver.mkv", "testsrc=s=160x8:r=10", "-pix_fmt", "yuv420p")
    # Variable frame rate (a phone's screen recording): 30 fps, then every other frame.
    vfr = make_video(
        folder / "vfr.mp4",
        "testsrc=s=160x120:r=30,select='lt(t\\,4)+not(mod(n\\,2))'",
        *("-fps_mode", "vfr", "-pix_fmt", "yuv420p"),
    )
    mute = folder / "mute.mp4"
    run_ffmpeg(["-i", str(web), "-map", "0:v", "-c", "copy", str(mute)])
    # A browser recording (a call-recording tool's export): VP9 and Opus in WebM.
    webm = folder / "call.webm"
    run_ffmpeg(
        [
            *("-i", str(web), "-map", "0:v", "-map", "0:a", "-c:v", "libvpx-vp9"),
            *("-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k"),
            *("-c:a", "libopus", "-b:a", "48k", str(webm)),
        ],
        label="make-test-webm",
    )
    return {
        "web": web, "phone": rotated, "sliver": sliver, "vfr": vfr, "mute": mute, "webm": webm
    }  # fmt: skip


def handler_for(stack: Stack) -> TranscodeHandler:
    settings = TranscodeSettings(name_prefix=stack.settings.name_prefix, bucket=stack.bucket)
    backend = FfmpegBackend(progress_log_seconds=3600)
    config = TranscodeConfig(
        bucket=stack.bucket, targets=settings.loudness_targets(), encoding=settings.mp3_encoding()
    )
    return TranscodeHandler(
        S3ObjectStore(stack.s3),
        backend,
        config,
        video=backend,
        ledger=S3StageLedger(stack.s3, stack.bucket),
    )


def transcoded(stack: Stack, episode_id: str, path: Path) -> tuple[AudioTranscoded, Event]:
    """The upload through the transcode queue as the runtime runs it: "Object Created" makes
    and announces the MP3; its "Audio Transcoded" (routed back) makes video.mp4, or the
    video's final failure — on_video_failure — says "Video Failed"."""
    handler = handler_for(stack)
    [*_, audio] = handler.handle(upload(stack, episode_id, path), CTX)
    assert isinstance(audio, AudioTranscoded)
    assert stack.s3.head_object(Bucket=stack.bucket, Key=EpisodeKeys(episode_id).audio)
    try:
        [video] = handler.make_video(audio, CTX)
    except Exception as exc:
        verdict = classify_failure(exc, attempts=1, last_attempt=True)
        assert verdict.failure is not None
        [video] = handler.on_video_failure(audio, verdict.failure)
    return audio, video


def upload(stack: Stack, episode_id: str, path: Path) -> ObjectCreated:
    key = f"uploads/{episode_id}{path.suffix}"
    stack.s3.upload_file(str(path), stack.bucket, key)
    return ObjectCreated.model_validate({"bucket": {"name": stack.bucket}, "object": {"key": key}})


def measure(path: Path) -> tuple[float, float]:
    stderr = run_ffmpeg(
        ["-i", str(path), "-map", "0:a:0", "-af", "ebur128=peak=true", "-f", "null", "-"],
        label="test-measure",
    ).stderr
    summary = stderr[stderr.rindex("Summary:") :]
    integrated = re.search(r"I:\s+(-?[\d.]+) LUFS", summary)
    peak = re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary)
    assert integrated
    assert peak
    return float(integrated.group(1)), float(peak.group(1))


def download_video(stack: Stack, tmp_path: Path, episode_id: str) -> Path:
    local = tmp_path / f"{episode_id}.mp4"
    stack.s3.download_file(stack.bucket, EpisodeKeys(episode_id).video, str(local))
    return local


def test_a_web_ready_video_gets_its_picture_copied_and_its_sound_normalised(
    stack: Stack, videos: dict[str, Path], tmp_path: Path
) -> None:
    _audio, video = transcoded(stack, "vid-web", videos["web"])
    assert isinstance(video, VideoTranscoded)
    assert video.picture_copied
    assert video.reencode_reasons == []
    local = download_video(stack, tmp_path, "vid-web")
    assert_moov_before_mdat(local)  # web-ready: +faststart
    info = probe(local)
    [picture] = info.video_streams
    assert (picture.codec, picture.width, picture.height) == ("h264", 160, 120)
    assert info.audio_streams[0].codec == "aac"
    assert info.duration_seconds == pytest.approx(SECONDS, abs=0.2)
    integrated, peak = measure(local)
    assert -17.0 <= integrated <= -15.0
    assert peak <= -1.0
    assert video.integrated_lufs == pytest.approx(integrated, abs=0.5)


def test_a_webm_browser_recording_becomes_a_web_ready_mp4_and_an_mp3(
    stack: Stack, videos: dict[str, Path], tmp_path: Path
) -> None:
    audio, video = transcoded(stack, "vid-webm", videos["webm"])
    assert audio.duration_seconds == pytest.approx(SECONDS, abs=0.2)
    assert isinstance(video, VideoTranscoded)
    assert not video.picture_copied
    assert "vp9 is not H.264" in video.reencode_reasons
    local = download_video(stack, tmp_path, "vid-webm")
    assert_moov_before_mdat(local)
    info = probe(local)
    [picture] = info.video_streams
    assert (picture.codec, picture.width, picture.height) == ("h264", 160, 120)
    assert info.audio_streams[0].codec == "aac"
    integrated, peak = measure(local)
    assert -17.0 <= integrated <= -15.0
    assert peak <= -1.0


def test_a_sideways_odd_sized_phone_video_comes_out_upright_and_even(
    stack: Stack, videos: dict[str, Path], tmp_path: Path
) -> None:
    _audio, video = transcoded(stack, "vid-phone", videos["phone"])
    assert isinstance(video, VideoTranscoded)
    assert not video.picture_copied
    assert any("rotated" in r for r in video.reencode_reasons)
    assert any("odd size" in r for r in video.reencode_reasons)
    [picture] = probe(download_video(stack, tmp_path, "vid-phone")).video_streams
    # Turned upright (121x161 → even), no display matrix left for players to disagree on.
    assert (picture.width, picture.height) == (120, 160)
    assert (picture.pixel_format, picture.rotation) == ("yuv420p", 0.0)


def test_a_failed_video_never_holds_the_mp3_back(
    stack: Stack, videos: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _audio, failed = transcoded(stack, "vid-sliver", videos["sliver"])
    assert isinstance(failed, VideoFailed)
    assert failed.output == "video.mp4"
    assert "160x8" in failed.failure.reason
    assert stack.s3.head_object(Bucket=stack.bucket, Key=EpisodeKeys("vid-sliver").audio)
    # `podpipe status` shows the video stage failed with its reason, the audio done.
    monkeypatch.setenv("PODPIPE_BUCKET", stack.bucket)
    monkeypatch.setenv("PODPIPE_NAME_PREFIX", stack.settings.name_prefix)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    result = CliRunner().invoke(app, ["status", "vid-sliver", "--json"])
    assert result.exit_code == 0, result.output
    stages = {s["stage"]: s for s in json.loads(result.output)["stages"]}
    assert stages["transcode"]["state"] == "done"
    assert stages["video"]["state"] == "failed"
    assert "160x8" in stages["video"]["reason"]
    assert stages["video-subtitles"]["state"] == "pending"


def test_variable_frame_rate_is_made_constant(
    stack: Stack, videos: dict[str, Path], tmp_path: Path
) -> None:
    _audio, video = transcoded(stack, "vid-vfr", videos["vfr"])
    assert isinstance(video, VideoTranscoded)
    assert any("variable frame rate" in r for r in video.reencode_reasons)
    [picture] = probe(download_video(stack, tmp_path, "vid-vfr")).video_streams
    assert picture.fps == picture.tbr == 30.0
    record = S3StageLedger(stack.s3, stack.bucket).read("vid-vfr", "video")
    assert record is not None
    assert record.status == "done"
    assert any("variable frame rate" in r for r in record.details["reencode_reasons"])


def test_a_video_without_sound_fails_clearly(stack: Stack, videos: dict[str, Path]) -> None:
    with pytest.raises(PermanentError, match="video without a sound track"):
        handler_for(stack).handle(upload(stack, "vid-mute", videos["mute"]), CTX)
