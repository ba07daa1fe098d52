"""End-to-end wall time of the demo episode, split by stage.

The four real services run as processes against LocalStack (as in `make demo`); the sample
episode is uploaded with `podpipe upload`. From the stage records it reports each stage's
time, the whole (upload → episode settled), the critical path
max(transcode, transcribe + LLM) and their ratio: how close the parallel design comes to the
best a pipeline of these stages can do. Clips render after the episode settles and are
reported on their own.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import boto3

from bench import SAMPLE, SAMPLE_METADATA
from podpipe.episodes_s3 import read_episode
from podpipe.layout import EpisodeKeys
from podpipe.s3io import get_json_or_none
from podpipe.settings import CoreSettings
from podpipe_local.bootstrap import AwsClients, teardown
from podpipe_local.demo import LocalPipeline, metadata_args, wait_for_stage
from podpipe_local.localstack import LocalStack
from podpipe_local.supervisor import LOCAL_AWS_ENV, StateDir

RESULTS = Path(__file__).parent / "results" / "pipeline.json"


def _span(records: dict[str, Any], names: list[str]) -> tuple[float, float] | None:
    chosen = [records[n] for n in names if n in records and records[n].finished_at is not None]
    if not chosen:
        return None
    return min(r.started_at for r in chosen), max(r.finished_at for r in chosen)


def main() -> dict[str, Any]:
    for key, value in LOCAL_AWS_ENV.items():
        os.environ.setdefault(key, value)
    state_root = Path(tempfile.mkdtemp(prefix="podpipe-bench-"))
    emulator = LocalStack(StateDir(state_root))
    started_emulator = emulator.start()
    prefix = "bench" + uuid.uuid4().hex[:6]
    settings = CoreSettings(name_prefix=prefix, bucket=f"{prefix}-media", wait_time_seconds=1)
    pipeline = LocalPipeline(
        settings=settings,
        state=StateDir(state_root),
        service_env={"PODPIPE_WAIT_TIME_SECONDS": "1"},
    )
    episode = "bench-episode"
    try:
        pipeline.bootstrap()
        pipeline.start_services()
        time.sleep(3)  # let every service reach its first poll: startup is not pipeline time
        uploaded = time.time()
        pipeline.cli("upload", str(SAMPLE), "--episode", episode, *metadata_args(SAMPLE_METADATA))
        waited = pipeline.cli(
            "wait", episode, "--timeout", "1800", "--interval", "1", "--quiet", check=False
        )
        settled = time.time()
        clips = wait_for_stage(settings.bucket, episode, "clips", 1800)
        s3 = boto3.client("s3")
        snapshot = read_episode(s3, settings.bucket, episode)
        audio_info = get_json_or_none(s3, settings.bucket, EpisodeKeys(episode).audio_info) or {}
    finally:
        pipeline.stop_services()
        teardown(settings, AwsClients.from_session())
        if started_emulator:
            emulator.stop()

    records = snapshot.records
    prompts = sorted(n for n in records if n.startswith("prompt-"))
    transcode = _span(records, ["transcode"])
    transcribe = _span(records, ["transcribe"])
    llm = _span(records, ["dispatch", *prompts])
    if transcode is None or transcribe is None or llm is None:
        raise RuntimeError(f"the episode did not finish: stage records {sorted(records)}")
    stage_seconds = {
        "transcode": transcode[1] - transcode[0],
        "transcribe": transcribe[1] - transcribe[0],
        "llm (dispatch + all prompts)": llm[1] - llm[0],
        "clips (after the episode settled)": (clips.finished_at or 0) - clips.started_at
        if clips
        else None,
    }
    whole = settled - uploaded
    critical = max(transcode[1] - transcode[0], (transcribe[1] - transcribe[0]) + (llm[1] - llm[0]))
    result = {
        "episode_audio_seconds": audio_info.get("source_duration_seconds"),
        "state": snapshot.status.state,
        "wait_exit_code": waited.returncode,
        "prompts": len(prompts),
        "stage_seconds": {k: None if v is None else round(v, 2) for k, v in stage_seconds.items()},
        "gap_transcribe_to_first_prompt_seconds": round(llm[0] - transcribe[1], 2),
        "whole_seconds_upload_to_settled": round(whole, 2),
        "critical_path_seconds": round(critical, 2),
        "whole_over_critical_path": round(whole / critical, 3),
        "sequential_sum_seconds": round(
            sum(v for v in stage_seconds.values() if v and v > 0)
            - (stage_seconds["clips (after the episode settled)"] or 0),
            2,
        ),
        "note": "offline: Whisper base on the CPU, extractive LLM stand-in; one run on a shared 2-core machine",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
