"""The host's commands on LocalStack: upload, status, wait, outputs (typer's CliRunner)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from podpipe.episodes import DIGEST_DELIVERY
from podpipe.events import PromptRequested, S3Location, to_envelope
from podpipe.layout import EpisodeKeys, EpisodeMetadata
from podpipe.s3io import put_json, put_text, record_stage
from podpipe_cli.main import app
from podpipe_cli.upload import send_episode
from tests.support.localstack import Stack

pytestmark = pytest.mark.integration

runner = CliRunner()
PROMPTS = ["titles", "show-notes"]


@pytest.fixture
def cli_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    monkeypatch.setenv("PODPIPE_BUCKET", stack.bucket)
    monkeypatch.setenv("PODPIPE_NAME_PREFIX", stack.settings.name_prefix)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return stack


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def prepare(stack: Stack, episode_id: str, *, prompts: dict[str, str]) -> EpisodeKeys:
    """An episode as the services leave it; prompts maps id → done | failed | running | pending."""
    keys = EpisodeKeys(episode_id)
    s3, bucket = stack.s3, stack.bucket
    now = time.time()
    put_text(s3, bucket, keys.audio, "mp3")
    record_stage(s3, bucket, episode_id, "transcode", "done", started_at=now - 30)
    put_json(s3, bucket, keys.transcript_json, {"backend": "whisper", "duration_seconds": 60})
    put_text(s3, bucket, keys.subtitles_srt, "1\n00:00:00,000 --> 00:00:01,000\nhi\n")
    record_stage(s3, bucket, episode_id, "transcribe", "done", started_at=now - 30)
    put_json(s3, bucket, keys.manifest, {"prompts": [{"id": p, "model": "m"} for p in prompts]})
    record_stage(s3, bucket, episode_id, "dispatch", "done", started_at=now - 5)
    for prompt, state in prompts.items():
        if state == "done":
            put_text(s3, bucket, keys.prompt_output(prompt, "md"), f"# {prompt}")
            put_json(s3, bucket, keys.prompt_metadata(prompt), {"model": "m"})
            record_stage(s3, bucket, episode_id, f"prompt-{prompt}", "done", started_at=now - 4)
        elif state in {"failed", "running"}:
            record_stage(
                s3, bucket, episode_id, f"prompt-{prompt}", state, started_at=now - 4, reason="boom"
            )
    return keys


# --------------------------------------------------------------------------- upload


def test_upload_writes_sidecar_and_audio_with_metadata(cli_env: Stack, tmp_path: Path) -> None:
    audio = tmp_path / "Pilot Episode.m4a"
    audio.write_bytes(b"\x01" * 300_000)
    result = invoke(
        "upload",
        str(audio),
        "--title",
        "Pilot – the beginning",
        "--show",
        "The Show",
        "--number",
        "1",
        "--hosts",
        "Ana, Bo",
        "--guests",
        "Cy",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "pilot-episode"
    s3, bucket = cli_env.s3, cli_env.bucket
    sidecar = json.loads(
        s3.get_object(Bucket=bucket, Key="uploads/pilot-episode.json")["Body"].read()
    )
    meta = EpisodeMetadata.model_validate(sidecar)
    assert (meta.title, meta.show, meta.episode_number) == ("Pilot – the beginning", "The Show", 1)
    assert (meta.hosts, meta.guests) == (["Ana", "Bo"], ["Cy"])
    head = s3.head_object(Bucket=bucket, Key="uploads/pilot-episode.m4a")
    assert head["ContentLength"] == 300_000
    assert EpisodeMetadata.from_s3_metadata(head["Metadata"]) == meta


def test_upload_with_explicit_episode_id(cli_env: Stack, tmp_path: Path) -> None:
    audio = tmp_path / "raw.WAV"
    audio.write_bytes(b"RIFF" + b"\x00" * 100)
    result = invoke("upload", str(audio), "--episode", "2026-11-27-ep42")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "2026-11-27-ep42"
    cli_env.s3.head_object(Bucket=cli_env.bucket, Key="uploads/2026-11-27-ep42.wav")


class RecordingS3:
    """The real LocalStack client, remembering the order of the writes made through it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[tuple[str, str]] = []

    def put_object(self, **kwargs: Any) -> Any:
        self.calls.append(("put_object", kwargs["Key"]))
        return self._client.put_object(**kwargs)

    def upload_file(self, filename: str, bucket: str, key: str, **kwargs: Any) -> Any:
        self.calls.append(("upload_file", key))
        return self._client.upload_file(filename, bucket, key, **kwargs)


def test_sidecar_is_written_before_the_audio(stack: Stack, tmp_path: Path) -> None:
    audio = tmp_path / "a.mp3"
    audio.write_bytes(b"ID3" + b"\x00" * 10)
    spy = RecordingS3(stack.s3)
    sent: list[int] = []
    send_episode(spy, stack.bucket, audio, "ep-order", EpisodeMetadata(title="t"), sent.append)  # type: ignore[arg-type]
    assert spy.calls == [
        ("put_object", "uploads/ep-order.json"),
        ("upload_file", "uploads/ep-order.mp3"),
    ]
    assert sum(sent) == 13  # the progress callback saw every byte


def test_upload_to_missing_bucket_says_stack_not_up(
    cli_env: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODPIPE_BUCKET", "no-such-bucket-podpipe")
    audio = tmp_path / "a.mp3"
    audio.write_bytes(b"x")
    result = invoke("upload", str(audio))
    assert result.exit_code == 3
    assert "is the stack up?" in result.output
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------- status


def test_status_json_reports_each_stage(cli_env: Stack) -> None:
    prepare(cli_env, "ep-status", prompts={"titles": "done", "show-notes": "running"})
    result = invoke("status", "ep-status", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    states = {s["stage"]: s["state"] for s in data["stages"]}
    assert states == {
        "transcode": "done",
        "transcribe": "done",
        "dispatch": "done",
        "prompt-titles": "done",
        "prompt-show-notes": "running",
    }
    assert data["state"] == "running"
    assert all(s["seconds"] is not None for s in data["stages"] if s["state"] == "done")


def test_status_shows_a_prompt_sitting_in_the_llm_dlq(cli_env: Stack) -> None:
    prepare(cli_env, "ep-dlq", prompts={"titles": "done", "show-notes": "pending"})
    request = PromptRequested(
        episode_id="ep-dlq",
        prompt_id="show-notes",
        model="m",
        transcript_json=S3Location(bucket=cli_env.bucket, key="episodes/ep-dlq/transcript.json"),
    )
    cli_env.sqs.send_message(
        QueueUrl=cli_env.dlq_url("llm"), MessageBody=json.dumps(to_envelope(request))
    )
    result = invoke("status", "ep-dlq", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    states = {s["stage"]: s["state"] for s in data["stages"]}
    assert states["prompt-show-notes"] == "in DLQ"
    assert data["state"] == "failed"
    table = invoke("status", "ep-dlq")
    assert "in DLQ" in table.stdout
    assert "podpipe dlq replay --queue llm --episode ep-dlq --prompt show-notes" in table.stdout
    # `wait` finds it too (no failure record: only the DLQ knows) and reports failed.
    waited = invoke("wait", "ep-dlq", "--timeout", "30")
    assert waited.exit_code == 1, waited.output
    # Listing the DLQ released the message: it is still there for `podpipe dlq replay`.
    assert cli_env.sqs.receive_message(QueueUrl=cli_env.dlq_url("llm"), WaitTimeSeconds=1).get(
        "Messages"
    )


def test_status_without_episode_lists_recent_episodes(cli_env: Stack) -> None:
    prepare(cli_env, "ep-old", prompts={"titles": "done"})
    cli_env.put_upload("ep-new", b"x", "m4a")
    result = invoke("status", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["episode_id"]: r for r in json.loads(result.stdout)}
    assert rows["ep-old"]["state"] == "completed"
    assert rows["ep-new"]["state"] == "running"
    table = invoke("status")
    assert "ep-old" in table.stdout
    assert "ep-new" in table.stdout


def test_status_of_unknown_episode_is_a_clear_error(cli_env: Stack) -> None:
    result = invoke("status", "never-uploaded")
    assert result.exit_code == 3
    assert "no such episode 'never-uploaded'" in result.output


def test_every_json_mode_prints_one_json_document_errors_and_empty_results_included(
    cli_env: Stack,
) -> None:
    """Issue #16: `status --json` of an unknown episode printed nothing on stdout and
    `dlq list --json` printed JSON Lines (0 bytes when empty)."""
    unknown = invoke("status", "never-uploaded", "--json")
    assert unknown.exit_code == 3
    error = json.loads(unknown.stdout)
    assert "no such episode 'never-uploaded'" in error["error"]
    assert error["exit_code"] == 3

    empty = invoke("dlq", "list", "--json")
    assert empty.exit_code == 0, empty.output
    assert json.loads(empty.stdout) == []

    bad = invoke("dlq", "list", "--queue", "nope", "--json")
    assert bad.exit_code == 2
    assert "unknown queue 'nope'" in json.loads(bad.stdout)["error"]


def test_dlq_list_says_which_receive_counts_are_exact(cli_env: Stack) -> None:
    """Listing a DLQ receives its messages, so SQS's own count grows with every listing: the
    runtime's count (an attribute) is exact, SQS's is marked approximate."""
    body = json.dumps(
        to_envelope(
            PromptRequested(
                episode_id="ep-count",
                prompt_id="titles",
                model="m",
                transcript_json=S3Location(bucket=cli_env.bucket, key="t.json"),
            )
        )
    )
    sqs = cli_env.sqs
    sqs.send_message(QueueUrl=cli_env.dlq_url("llm"), MessageBody=body)  # as SQS moves it
    sqs.send_message(
        QueueUrl=cli_env.dlq_url("llm"),
        MessageBody=body,
        MessageAttributes={
            "podpipe-receive-count": {"DataType": "Number", "StringValue": "3"},
            "podpipe-reason": {"DataType": "String", "StringValue": "ConnectError"},
        },
    )
    for _ in range(2):  # listing twice must not change what is reported as exact
        listed = invoke("dlq", "list", "--queue", "llm", "--json")
        assert listed.exit_code == 0, listed.output
        rows = json.loads(listed.stdout)
        exact = [r for r in rows if r["receive_count_exact"]]
        assert [(r["receive_count"], r["reason"]) for r in exact] == [(3, "ConnectError")]
        assert len([r for r in rows if not r["receive_count_exact"]]) == 1
    table = invoke("dlq", "list", "--queue", "llm")
    assert "includes earlier listings" in table.stdout


# --------------------------------------------------------------------------- wait


def test_wait_exit_codes(cli_env: Stack) -> None:
    prepare(cli_env, "ep-done", prompts={"titles": "done", "show-notes": "done"})
    prepare(cli_env, "ep-failed", prompts={"titles": "done", "show-notes": "failed"})
    prepare(cli_env, "ep-running", prompts={"titles": "done", "show-notes": "running"})

    done = invoke("wait", "ep-done", "--timeout", "30")
    assert done.exit_code == 0, done.output
    # Every output exists, but notify never announced it: wait says so (issue #16).
    assert "ep-done completed (digest not announced yet)" in done.stdout
    assert "'Episode completed' has not been announced yet" in done.output
    put_json(
        cli_env.s3, cli_env.bucket, EpisodeKeys("ep-done").completed_marker, {"state": "notified"}
    )
    announced = invoke("wait", "ep-done", "--timeout", "30", "--quiet")
    assert announced.stdout.strip() == "ep-done completed"
    # The digest reached the e-mail but not Slack: "completed" says which channel missed it.
    marker = EpisodeKeys("ep-done").notification_marker(DIGEST_DELIVERY, "slack")
    put_json(
        cli_env.s3,
        cli_env.bucket,
        marker,
        {
            "episode_id": "ep-done",
            "notification": DIGEST_DELIVERY,
            "channel": "slack",
            "state": "failed",
            "reason": "webhook request failed: ConnectError",
        },
    )
    half = invoke("wait", "ep-done", "--timeout", "30", "--quiet")
    assert half.stdout.strip() == "ep-done completed (digest not delivered to slack)"

    failed = invoke("wait", "ep-failed", "--timeout", "30")
    assert failed.exit_code == 1, failed.output
    assert "ep-failed failed: prompt-show-notes" in failed.stdout

    timed_out = invoke("wait", "ep-running", "--timeout", "0.3", "--interval", "0.1")
    assert timed_out.exit_code == 2, timed_out.output
    assert "timed out" in timed_out.stdout


def test_wait_reports_a_failed_transcode_as_failed(cli_env: Stack) -> None:
    record_stage(cli_env.s3, cli_env.bucket, "ep-bad", "transcode", "failed", reason="not audio")
    result = invoke("wait", "ep-bad", "--timeout", "30")
    assert result.exit_code == 1
    assert "not audio" in result.stdout


# --------------------------------------------------------------------------- outputs


def test_outputs_downloads_every_artifact(cli_env: Stack, tmp_path: Path) -> None:
    keys = prepare(cli_env, "ep-out", prompts={"titles": "done", "show-notes": "done"})
    target = tmp_path / "out"
    result = invoke("outputs", "ep-out", "--to", str(target))
    assert result.exit_code == 0, result.output
    listed = cli_env.s3.list_objects_v2(Bucket=cli_env.bucket, Prefix=keys.root)["Contents"]
    expected = {o["Key"][len(keys.root) :] for o in listed}
    written = {str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()}
    assert written == expected
    assert (target / "outputs" / "titles.md").read_text() == "# titles"
    assert (target / "audio.mp3").read_text() == "mp3"


def test_outputs_of_unknown_episode_is_a_clear_error(cli_env: Stack, tmp_path: Path) -> None:
    result = invoke("outputs", "never-uploaded", "--to", str(tmp_path))
    assert result.exit_code == 3
    assert "no such episode" in result.output
