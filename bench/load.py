"""Local load: eight episodes at once against eight times one episode, on one machine.

The four services run as processes against LocalStack (as in `make demo`). After one
warm-up episode (not counted: cold page and model caches), first the sample episode alone: upload → its last stage (the clips) ended. Then eight copies uploaded at the
same moment: first upload → the last of the eight ended. The figure is
``eight_at_once / (8 × one)``: at 1.0 the stages sharing the cores cost nothing over running
the episodes back to back; below 1.0 the parallel stages fill cores one episode leaves idle;
above it they oversubscribe the machine. Both phases run in one process, one after the other.

Writes bench/results/load.json.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3

from bench import SAMPLE, SAMPLE_METADATA
from podpipe.episodes_s3 import read_episode
from podpipe.settings import CoreSettings
from podpipe.stages import PROMPT_STAGE_PREFIX
from podpipe_local.bootstrap import AwsClients, teardown
from podpipe_local.demo import LocalPipeline, metadata_args
from podpipe_local.localstack import LocalStack
from podpipe_local.supervisor import LOCAL_AWS_ENV, StateDir

RESULTS = Path(__file__).parent / "results" / "load.json"
EPISODES = int(os.environ.get("PODPIPE_BENCH_LOAD_EPISODES", "8"))
TIMEOUT = 3600


def _settled(s3: Any, bucket: str, episode: str) -> float | None:
    """When the episode's last stage ended (clips included); None while any still runs."""
    snapshot = read_episode(s3, bucket, episode)
    records = snapshot.records
    if "clips" not in records or any(r.finished_at is None for r in records.values()):
        return None
    if snapshot.status.state not in ("completed", "failed"):
        return None
    return max(r.finished_at or 0.0 for r in records.values())


def _run(pipeline: LocalPipeline, bucket: str, episodes: list[str]) -> dict[str, Any]:
    s3 = boto3.client("s3")
    started = time.time()

    def upload(episode: str) -> None:
        pipeline.cli("upload", str(SAMPLE), "--episode", episode, *metadata_args(SAMPLE_METADATA))

    with ThreadPoolExecutor(max_workers=len(episodes)) as pool:
        list(pool.map(upload, episodes))
    ended: dict[str, float] = {}
    deadline = time.monotonic() + TIMEOUT
    while len(ended) < len(episodes):
        if time.monotonic() > deadline:
            raise RuntimeError(f"episodes not settled in {TIMEOUT} s: {set(episodes) - set(ended)}")
        for episode in episodes:
            if episode not in ended and (at := _settled(s3, bucket, episode)) is not None:
                ended[episode] = at
        time.sleep(1)
    snapshots = [read_episode(s3, bucket, e) for e in episodes]
    stage_seconds: dict[str, list[float]] = {}
    for snapshot in snapshots:
        for name, record in snapshot.records.items():
            if record.seconds is not None and not name.startswith(PROMPT_STAGE_PREFIX):
                stage_seconds.setdefault(name, []).append(record.seconds)
    return {
        "seconds": round(max(ended.values()) - started, 2),
        "per_episode_seconds": sorted(round(t - started, 1) for t in ended.values()),
        "stage_seconds_mean": {
            name: round(sum(v) / len(v), 1) for name, v in sorted(stage_seconds.items())
        },
        "states": sorted({s.status.state for s in snapshots}),
    }


def main() -> dict[str, Any]:
    for key, value in LOCAL_AWS_ENV.items():
        os.environ.setdefault(key, value)
    state_root = Path(tempfile.mkdtemp(prefix="podpipe-bench-load-"))
    emulator = LocalStack(StateDir(state_root))
    started_emulator = emulator.start()
    prefix = "load" + uuid.uuid4().hex[:6]
    settings = CoreSettings(name_prefix=prefix, bucket=f"{prefix}-media", wait_time_seconds=1)
    pipeline = LocalPipeline(
        settings=settings,
        state=StateDir(state_root),
        service_env={"PODPIPE_WAIT_TIME_SECONDS": "1", "PODPIPE_LLM_PROVIDER": "extractive"},
    )
    load_start = os.getloadavg()
    try:
        pipeline.bootstrap()
        pipeline.start_services()
        time.sleep(3)  # let every service reach its first poll: startup is not pipeline time
        _run(pipeline, settings.bucket, ["warmup"])  # cold caches are nobody's per-episode cost
        one = _run(pipeline, settings.bucket, ["solo"])
        many = _run(pipeline, settings.bucket, [f"ep{i:02d}" for i in range(EPISODES)])
    finally:
        pipeline.stop_services()
        teardown(settings, AwsClients.from_session())
        if started_emulator:
            emulator.stop()
    result = {
        "episodes": EPISODES,
        "cores": os.cpu_count(),
        "one_episode": one,
        "at_once": many,
        "at_once_over_n_times_one": round(many["seconds"] / (EPISODES * one["seconds"]), 3),
        "target": 1.3,
        "clips_niceness": os.environ.get("PODPIPE_CLIPS_NICENESS", "10 (default)"),
        "load_average_at_start": [round(x, 2) for x in load_start],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "note": "sample episode (184 s), Whisper base on the CPU, extractive LLM, full-size "
        "clips; one run on a shared machine",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
