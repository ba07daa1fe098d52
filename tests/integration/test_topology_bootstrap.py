"""The topology bootstrap on LocalStack: uploads fan out to BOTH media queues through EventBridge."""

from __future__ import annotations

import json

import pytest

from podpipe.events import ObjectCreated, TranscribeJobStateChanged
from podpipe_local.bootstrap import AwsClients, bootstrap
from tests.support.localstack import Stack

pytestmark = pytest.mark.integration


def test_upload_reaches_transcode_and_transcribe_queues(stack: Stack) -> None:
    key = stack.put_upload("ep-fanout", b"not really audio")

    for queue in ("transcode", "transcribe"):
        [envelope] = stack.drain_events(queue, expect=1, timeout=30)
        assert isinstance(envelope.detail, ObjectCreated)
        assert envelope.detail.object.key == key
        assert envelope.detail.bucket.name == stack.bucket


def test_objects_outside_uploads_do_not_start_anything(stack: Stack) -> None:
    stack.s3.put_object(Bucket=stack.bucket, Key="episodes/ep/audio.mp3", Body=b"x")
    stack.put_upload("ep-marker", b"x")  # a later upload proves delivery is working

    [envelope] = stack.drain_events("transcode", expect=2, timeout=15)
    assert isinstance(envelope.detail, ObjectCreated)
    assert envelope.detail.object.key == "uploads/ep-marker.m4a"


def test_bootstrap_is_idempotent_and_wires_dlqs(stack: Stack) -> None:
    again = bootstrap(stack.settings, AwsClients.from_session())
    assert again.queue_urls == stack.created.queue_urls

    attributes = stack.sqs.get_queue_attributes(
        QueueUrl=stack.queue_url("llm"), AttributeNames=["RedrivePolicy", "VisibilityTimeout"]
    )["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(f"{stack.settings.name_prefix}-llm-dlq")
    assert int(redrive["maxReceiveCount"]) == 4
    assert set(stack.created.topic_arns) == {"notifications", "alerts", "guests"}


def test_only_podpipes_own_transcribe_jobs_reach_the_transcribe_queue(stack: Stack) -> None:
    def job_event(name: str) -> dict[str, str]:
        return {
            "Source": "aws.transcribe",
            "DetailType": "Transcribe Job State Change",
            "Detail": json.dumps(
                {"TranscriptionJobName": name, "TranscriptionJobStatus": "COMPLETED"}
            ),
            "EventBusName": "default",
        }

    prefix = stack.settings.name_prefix
    stack.events.put_events(
        Entries=[job_event("someone-elses-job"), job_event(f"{prefix}-ep1--abc123")]
    )

    received = stack.drain_events("transcribe", expect=2, timeout=10)
    jobs = [e.of(TranscribeJobStateChanged).detail.transcription_job_name for e in received]
    assert jobs == [f"{prefix}-ep1--abc123"]
