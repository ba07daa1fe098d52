"""Subtitled videos on LocalStack with real ffmpeg: the join of "Video Transcoded" and
"Transcript Ready", the soft subtitle track (present, in the episode's language, parses back),
and captions burned into the picture (a frame grab at a caption time differs from the same
frame of the soft-subtitled video in the caption area, and only there).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pysubs2
import pytest

from podpipe.bucket import S3BucketStore
from podpipe.captions import build_cues, to_srt
from podpipe.documents import Transcript
from podpipe.events import (
    AudioTranscoded,
    ObjectCreated,
    TranscriptReady,
    VideoSubtitled,
    VideoTranscoded,
)
from podpipe.ffmpeg import find_ffmpeg, run_ffmpeg
from podpipe.layout import EpisodeKeys
from podpipe.runtime.service import MessageContext
from podpipe.stages import S3StageLedger
from podpipe_transcode.backend import FfmpegBackend
from podpipe_transcode.handler import TranscodeConfig, TranscodeHandler
from podpipe_transcode.settings import TranscodeSettings
from podpipe_transcode.store import S3ObjectStore
from podpipe_transcode.subtitled import SubtitlesConfig, VideoSubtitlesHandler
from tests.support.localstack import Stack
from tests.support.mp4 import assert_moov_before_mdat

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "episode.m4a"
TRANSCRIPT = REPO / "tests" / "integration" / "test_clips_sample_transcript.json"
SECONDS = 12
WIDTH, HEIGHT = 320, 180
CTX = MessageContext(message_id="m1", queue="transcode", receive_count=1, max_receive_count=3)


@pytest.fixture(scope="module")
def source_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("subtitles") / "episode.mp4"
    run_ffmpeg(
        [
            *("-f", "lavfi", "-i", f"testsrc=s={WIDTH}x{HEIGHT}:r=10:d={SECONDS}"),
            *("-t", str(SECONDS), "-i", str(SAMPLE), "-map", "0:v", "-map", "1:a"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
            *("-c:a", "aac", "-b:a", "64k", "-shortest", str(path)),
        ],
        label="make-test-video",
    )
    return path


def transcript_of_first_seconds(episode_id: str) -> Transcript:
    whole = Transcript.model_validate_json(TRANSCRIPT.read_text())
    segments = [s for s in whole.segments if s.end <= SECONDS]
    return whole.model_copy(
        update={"episode_id": episode_id, "segments": segments, "duration_seconds": SECONDS}
    )


def frame(path: Path, at: float) -> np.ndarray:
    """One grey frame at ``at`` seconds, as a HEIGHT x WIDTH array."""
    raw = subprocess.run(
        [
            find_ffmpeg(),
            "-v",
            "error",
            "-ss",
            f"{at:.2f}",
            "-i",
            str(path),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(HEIGHT, WIDTH).astype(np.int16)


def test_a_video_episode_gets_soft_subtitles_and_burned_captions(
    stack: Stack, source_video: Path, tmp_path: Path
) -> None:
    episode_id = "vid-subs"
    keys = EpisodeKeys(episode_id)
    key = f"uploads/{episode_id}.mp4"
    stack.s3.upload_file(str(source_video), stack.bucket, key)
    settings = TranscodeSettings(name_prefix=stack.settings.name_prefix, bucket=stack.bucket)
    backend = FfmpegBackend(progress_log_seconds=3600)
    transcode = TranscodeHandler(
        S3ObjectStore(stack.s3),
        backend,
        TranscodeConfig(stack.bucket, settings.loudness_targets(), settings.mp3_encoding()),
        video=backend,
        ledger=S3StageLedger(stack.s3, stack.bucket),
    )
    created = ObjectCreated.model_validate(
        {"bucket": {"name": stack.bucket}, "object": {"key": key}}
    )
    [*_, audio] = transcode.handle(created, CTX)
    assert isinstance(audio, AudioTranscoded)
    [video_event] = transcode.make_video(audio, CTX)  # on the MP3's "Audio Transcoded"
    assert isinstance(video_event, VideoTranscoded)

    store = S3BucketStore(stack.s3, stack.bucket)
    subtitles = VideoSubtitlesHandler(
        store, SubtitlesConfig(bucket=stack.bucket), ledger=S3StageLedger(stack.s3, stack.bucket)
    )
    # The video is first: the transcript is not there yet, so the join waits.
    assert subtitles.on_video(video_event, CTX) == []

    transcript = transcript_of_first_seconds(episode_id)
    cues = build_cues(transcript.words, offset=0.0, clip_duration=SECONDS)
    assert len(cues) >= 2
    stack.s3.put_object(
        Bucket=stack.bucket, Key=keys.transcript_json, Body=transcript.model_dump_json().encode()
    )
    stack.s3.put_object(Bucket=stack.bucket, Key=keys.subtitles_srt, Body=to_srt(cues).encode())
    ready = TranscriptReady.model_validate(
        {
            "episode_id": episode_id,
            "source": {"bucket": stack.bucket, "key": key},
            **{
                name: {"bucket": stack.bucket, "key": getattr(keys, name)}
                for name in ("transcript_json", "transcript_text", "subtitles_srt")
            },
            "subtitles_vtt": {"bucket": stack.bucket, "key": keys.subtitles_vtt},
            "podcasting20_json": {"bucket": stack.bucket, "key": keys.podcasting20_json},
            "duration_seconds": SECONDS,
            "word_count": len(transcript.words),
            "language": transcript.language,
            "backend": "test",
        }
    )
    [done] = subtitles.on_transcript(ready, CTX)
    assert isinstance(done, VideoSubtitled)
    assert done.cues == len(cues)

    soft, burned = tmp_path / "video.mp4", tmp_path / "video-captioned.mp4"
    stack.s3.download_file(stack.bucket, keys.video, str(soft))
    stack.s3.download_file(stack.bucket, keys.video_captioned, str(burned))

    header = subprocess.run(
        [find_ffmpeg(), "-hide_banner", "-i", str(soft)], capture_output=True, text=True
    ).stderr
    assert "(eng): Subtitle: mov_text" in header
    extracted = tmp_path / "extracted.srt"
    run_ffmpeg(["-i", str(soft), "-map", "0:s:0", str(extracted)], label="extract-subtitles")
    parsed = pysubs2.load(str(extracted))
    assert [event.plaintext.replace("\n", " ") for event in parsed] == [c.text for c in cues]
    assert_moov_before_mdat(soft)
    assert_moov_before_mdat(burned)

    cue = cues[0]
    at = (cue.start + cue.end) / 2
    difference = np.abs(frame(burned, at) - frame(soft, at))
    caption_rows = difference[HEIGHT // 2 :]  # libass draws at the bottom
    picture_rows = difference[: HEIGHT // 3]
    assert (caption_rows > 40).sum() > 200  # the text's pixels
    assert picture_rows.mean() < 3  # elsewhere only the re-encode's noise

    # Redelivered: nothing is redone.
    assert subtitles.on_transcript(ready, CTX) == []
