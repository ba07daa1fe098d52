"""`terraform apply` of infra/terraform on a private LocalStack, then events through it.

LocalStack's free edition has no ECS, ECR or EC2, so the apply targets the layer it does
have — bucket (+ encryption, lifecycle, EventBridge notifications, TLS-only policy), KMS key,
bus, every queue with its DLQ, redrive, queue policy and alarms, every rule and target, the
topics, the throttling alarm — which is all of the topology. Then:

- an object under uploads/ reaches the transcode AND transcribe queues Terraform made;
- a podpipe event on Terraform's bus reaches llm-dispatch and notify (and not llm);
- `podpipe local bootstrap` on the same LocalStack builds the same queues, DLQs, rules,
  patterns, targets and topics (compared attribute by attribute);
- a second plan changes nothing but alarm tags (LocalStack does not store alarm tags).

KMS needs LocalStack on Python 3.12 (`find_python312`): without one the test skips.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from podpipe.events import (
    ObjectCreated,
    S3Location,
    TranscriptReady,
    parse_envelope,
    put_events_entry,
)
from podpipe.settings import CoreSettings
from podpipe.topology import Topology, load_topology
from podpipe_local.bootstrap import AwsClients, bootstrap
from podpipe_local.supervisor import StateDir
from tests.infra.localstack_terraform import TerraformLocalStack, find_python312, free_port
from tests.infra.terraform_cli import Terraform, terraform_in

pytestmark = pytest.mark.integration

PREFIX = "tfls"
BOOTSTRAP_PREFIX = "boot"
REGION = "us-east-1"
# What LocalStack has; ECS, ECR, the VPC and the service modules stay out of this apply.
TARGETS = (
    "module.queue",
    "aws_cloudwatch_event_target.topology",
    "aws_s3_bucket_notification.media",
    "aws_s3_bucket_policy.media",
    "aws_s3_bucket_lifecycle_configuration.media",
    "aws_s3_bucket_server_side_encryption_configuration.media",
    "aws_s3_bucket_ownership_controls.media",
    "aws_s3_bucket_versioning.media",
    "aws_sns_topic.topic",
    "aws_sns_topic_policy.alerts",
    "aws_cloudwatch_metric_alarm.llm_throttled",
    "aws_kms_alias.podpipe",
)
ENDPOINT_SERVICES = ("s3", "sqs", "sns", "events", "cloudwatch", "kms", "iam", "sts", "logs")


def provider_override(endpoint: str) -> str:
    """An override file (merged into versions.tf's provider block) aiming at LocalStack."""
    endpoints = "\n".join(f'    {service} = "{endpoint}"' for service in ENDPOINT_SERVICES)
    return f"""provider "aws" {{
  access_key                  = "test"
  secret_key                  = "test"
  s3_use_path_style           = true
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  endpoints {{
{endpoints}
  }}
}}
"""


@dataclass
class Applied:
    terraform: Terraform
    endpoint: str
    outputs: dict[str, Any]
    summary: str
    seconds: float

    def client(self, service: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def receive(self, queue: str, *, expect: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        sqs = self.client("sqs")
        url = self.outputs["queue_urls"][queue]
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(got) < expect and time.monotonic() < deadline:
            reply = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for message in reply.get("Messages", []):
                got.append(message)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return got


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Applied]:
    scratch = tmp_path_factory.mktemp("terraform-localstack")
    terraform = terraform_in(scratch / "stage")  # skips (or fails) before anything starts
    python = find_python312()
    if python is None:
        pytest.skip("KMS CreateKey fails in LocalStack on Python 3.11 and no python3.12 exists")
    emulator = TerraformLocalStack(StateDir(scratch / "localstack"), python, free_port())
    emulator.start()
    try:
        (terraform.workdir / "localstack_override.tf").write_text(
            provider_override(emulator.endpoint)
        )
        terraform.env.update(
            {
                "AWS_ENDPOINT_URL": emulator.endpoint,
                "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test",
                "AWS_REGION": REGION,
            }
        )
        started = time.monotonic()
        result = terraform.run(
            "apply",
            "-auto-approve",
            "-no-color",
            "-parallelism=20",
            f"-var=name_prefix={PREFIX}",
            "-var=public_cdn=false",  # LocalStack's free edition has no CloudFront
            *(f"-target={target}" for target in TARGETS),
        )
        seconds = time.monotonic() - started
        summary = re.search(r"Apply complete! Resources: .*", result.stdout)
        assert summary, result.stdout[-3000:]
        yield Applied(terraform, emulator.endpoint, terraform.output(), summary.group(0), seconds)
    finally:
        emulator.stop()


def test_apply_creates_every_topology_queue_and_dlq(applied: Applied) -> None:
    topology = load_topology()
    added = re.search(r"Resources: (\d+) added, 0 changed, 0 destroyed", applied.summary)
    assert added, applied.summary
    # Per queue: queue, DLQ, queue policy, redrive-allow policy, two alarms; per rule: the
    # rule and its target; plus the bucket's parts, the key, the bus and the topics.
    assert int(added.group(1)) >= 6 * len(topology.queues) + 2 * len(topology.rules) + 10
    assert set(applied.outputs["queue_urls"]) == set(topology.queues)
    for queue, url in applied.outputs["queue_urls"].items():
        assert url == f"{applied.endpoint}/000000000000/{PREFIX}-{queue}"
        assert applied.outputs["dlq_urls"][queue] == f"{url}-dlq"
    assert applied.outputs["event_bus_name"] == f"{PREFIX}-events"


def test_an_upload_reaches_the_transcode_and_transcribe_queues(applied: Applied) -> None:
    bucket = applied.outputs["bucket_name"]
    applied.client("s3").put_object(Bucket=bucket, Key="uploads/ep-terraform.m4a", Body=b"audio")

    for queue in ("transcode", "transcribe"):
        [message] = applied.receive(queue, expect=1)
        event = parse_envelope(message["Body"]).detail
        assert isinstance(event, ObjectCreated)
        assert (event.bucket.name, event.object.key) == (bucket, "uploads/ep-terraform.m4a")


def test_a_podpipe_event_on_the_bus_reaches_llm_dispatch_and_notify(applied: Applied) -> None:
    bucket = applied.outputs["bucket_name"]

    def at(key: str) -> S3Location:
        return S3Location(bucket=bucket, key=f"episodes/ep-terraform/{key}")

    ready = TranscriptReady(
        episode_id="ep-terraform",
        source=S3Location(bucket=bucket, key="uploads/ep-terraform.m4a"),
        transcript_json=at("transcript.json"),
        transcript_text=at("transcript.txt"),
        subtitles_srt=at("subtitles.srt"),
        subtitles_vtt=at("subtitles.vtt"),
        podcasting20_json=at("transcript.podcasting20.json"),
        duration_seconds=180.0,
        word_count=400,
        language="en",
        backend="whisper",
    )
    reply = applied.client("events").put_events(
        Entries=[put_events_entry(ready, applied.outputs["event_bus_name"])]
    )
    assert reply["FailedEntryCount"] == 0

    for queue in ("llm-dispatch", "notify"):
        [message] = applied.receive(queue, expect=1)
        assert parse_envelope(message["Body"]).detail == ready
    assert applied.receive("llm", expect=1, timeout=2) == []


def test_every_queue_has_its_dlq_alarm_and_age_alarm(applied: Applied) -> None:
    alarms = applied.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{PREFIX}-")
    by_name = {alarm["AlarmName"]: alarm for alarm in alarms["MetricAlarms"]}
    alerts = applied.outputs["alerts_topic_arn"]
    for queue in load_topology().queues:
        dlq_alarm = by_name[f"{PREFIX}-{queue}-dlq-not-empty"]
        assert dlq_alarm["Dimensions"] == [{"Name": "QueueName", "Value": f"{PREFIX}-{queue}-dlq"}]
        assert dlq_alarm["AlarmActions"] == [alerts]
        age_alarm = by_name[f"{PREFIX}-{queue}-oldest-message-age"]
        assert age_alarm["MetricName"] == "ApproximateAgeOfOldestMessage"
        assert age_alarm["AlarmActions"] == [alerts]


# -------------------------------------------------------------- the same topology as bootstrap


def _name(arn_or_url: str, prefix: str) -> str:
    """A queue/rule/topic name without the stack prefix (from an ARN or a queue URL)."""
    name = re.split(r"[:/]", arn_or_url)[-1]
    assert name.startswith(f"{prefix}-"), (name, prefix)
    return name.removeprefix(f"{prefix}-")


def topology_as_built(
    clients: AwsClients, prefix: str, bucket: str, topology: Topology
) -> dict[str, Any]:
    """What a stack's queues, rules and topics actually are, with its prefix and bucket taken out."""
    queues: dict[str, Any] = {}
    for queue in topology.queues:
        url = clients.sqs.get_queue_url(QueueName=f"{prefix}-{queue}")["QueueUrl"]
        attributes = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
            "Attributes"
        ]
        redrive = json.loads(attributes["RedrivePolicy"])
        dlq_url = clients.sqs.get_queue_url(QueueName=f"{prefix}-{queue}-dlq")["QueueUrl"]
        dlq = clients.sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])[
            "Attributes"
        ]
        [statement] = json.loads(attributes["Policy"])["Statement"]
        senders = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
        queues[queue] = {
            "visibility_timeout": attributes["VisibilityTimeout"],
            "retention": attributes["MessageRetentionPeriod"],
            "sse": attributes["SqsManagedSseEnabled"],
            "dead_letter_queue": _name(redrive["deadLetterTargetArn"], prefix),
            "max_receive_count": int(redrive["maxReceiveCount"]),
            "dlq_retention": dlq["MessageRetentionPeriod"],
            "dlq_sse": dlq["SqsManagedSseEnabled"],
            "send_allowed_to": (statement["Effect"], statement["Principal"], statement["Action"]),
            "senders": sorted(
                _name(arn, prefix) for arn in ([senders] if isinstance(senders, str) else senders)
            ),
        }
    rules: dict[str, Any] = {}
    for rule in topology.rules:
        bus = "default" if topology.is_default_bus_rule(rule) else f"{prefix}-events"
        described = clients.events.describe_rule(Name=f"{prefix}-{rule}", EventBusName=bus)
        pattern = (
            described["EventPattern"]
            .replace(bucket, "${bucket}")
            .replace(f"{prefix}-", "${prefix}-")
        )
        targets = clients.events.list_targets_by_rule(Rule=f"{prefix}-{rule}", EventBusName=bus)[
            "Targets"
        ]
        rules[rule] = {
            "bus": "default" if bus == "default" else "podpipe",
            "state": described["State"],
            "pattern": json.loads(pattern),
            "targets": sorted((t["Id"], _name(t["Arn"], prefix)) for t in targets),
        }
    topics = sorted(
        _name(t["TopicArn"], prefix)
        for t in clients.sns.list_topics()["Topics"]
        if t["TopicArn"].rsplit(":", 1)[1].startswith(f"{prefix}-")
    )
    return {"queues": queues, "rules": rules, "topics": topics}


def test_terraform_and_the_local_bootstrap_build_the_same_topology(applied: Applied) -> None:
    clients = AwsClients(
        s3=applied.client("s3"),
        sqs=applied.client("sqs"),
        events=applied.client("events"),
        sns=applied.client("sns"),
    )
    topology = load_topology()
    settings = CoreSettings(
        name_prefix=BOOTSTRAP_PREFIX, bucket=f"{BOOTSTRAP_PREFIX}-media", region=REGION
    )
    bootstrap(settings, clients, topology)

    by_terraform = topology_as_built(clients, PREFIX, applied.outputs["bucket_name"], topology)
    by_bootstrap = topology_as_built(clients, BOOTSTRAP_PREFIX, settings.bucket, topology)

    # Not compared, because only Terraform sets them (production hardening the local stack
    # does not need): a 20 s default long poll (the runtime always passes WaitTimeSeconds),
    # the DLQs' redrive-allow policy, KMS on the bucket and the topics, alarms.
    assert by_terraform["queues"] == by_bootstrap["queues"]
    assert by_terraform["rules"] == by_bootstrap["rules"]
    assert by_terraform["topics"] == by_bootstrap["topics"] == sorted(topology.topics)
    # And both are what topology.yaml declares.
    for queue, spec in topology.queues.items():
        built = by_terraform["queues"][queue]
        assert built["visibility_timeout"] == str(spec.visibility_timeout)
        assert built["max_receive_count"] == spec.max_receive_count
        assert built["dead_letter_queue"] == f"{queue}-dlq"
        assert built["senders"] == sorted(
            r for r, rule in topology.rules.items() if rule.target == queue
        )


def test_a_second_plan_changes_nothing_but_the_alarm_tags_localstack_drops(
    applied: Applied,
) -> None:
    terraform = applied.terraform
    terraform.run(
        "plan",
        "-no-color",
        "-out=second.tfplan",
        f"-var=name_prefix={PREFIX}",
        "-var=public_cdn=false",
        *(f"-target={target}" for target in TARGETS),
    )
    plan = json.loads(terraform.run("show", "-json", "second.tfplan").stdout)
    changed = [c for c in plan.get("resource_changes", []) if c["change"]["actions"] != ["no-op"]]
    unexpected = []
    for change in changed:
        before, after = change["change"]["before"], change["change"]["after"]
        differs = sorted(
            k
            for k in set(before or {}) | set(after or {})
            if (before or {}).get(k) != (after or {}).get(k)
        )
        if not (
            change["type"] == "aws_cloudwatch_metric_alarm"
            and change["change"]["actions"] == ["update"]
            and differs == ["tags_all"]
        ):
            unexpected.append(f"{change['address']}: {change['change']['actions']} {differs}")
    assert not unexpected, "the apply did not converge:\n" + "\n".join(unexpected)
