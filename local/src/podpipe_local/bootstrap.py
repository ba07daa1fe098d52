"""The topology on an endpoint: what topology.yaml declares, created on LocalStack (or on
whatever endpoint boto3 is pointed at through AWS_ENDPOINT_URL), idempotently.

`bootstrap` creates the bucket, bus, queues + DLQs, rules and topics; `teardown` removes them.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import structlog
from botocore.exceptions import ClientError

from podpipe.settings import CoreSettings
from podpipe.topology import Topology, load_topology, rule_name, topic_name

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

log = structlog.get_logger()


@dataclass(frozen=True)
class BootstrappedStack:
    """What bootstrap created, by topology name."""

    bucket: str
    bus_name: str
    bus_arn: str
    queue_urls: dict[str, str]
    dlq_urls: dict[str, str]
    queue_arns: dict[str, str]
    rule_names: dict[str, str]
    topic_arns: dict[str, str]


@dataclass
class AwsClients:
    s3: S3Client
    sqs: SQSClient
    events: EventBridgeClient
    sns: SNSClient

    @classmethod
    def from_session(cls, session: boto3.Session | None = None) -> AwsClients:
        session = session or boto3.Session()
        return cls(
            s3=session.client("s3"),
            sqs=session.client("sqs"),
            events=session.client("events"),
            sns=session.client("sns"),
        )


def _ensure_bucket(s3: S3Client, bucket: str, region: str) -> None:
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket,
                CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
            )
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
            raise
    # S3 → EventBridge: every object event goes to the default bus, rules filter by prefix.
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )


def _ensure_queue(sqs: SQSClient, name: str, attributes: dict[str, str]) -> str:
    try:
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]  # type: ignore[arg-type]
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in {"QueueAlreadyExists", "QueueNameExists"}:
            raise
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)  # type: ignore[arg-type]
    return url


def queue_arn(sqs: SQSClient, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]


def subscribe_queue(sqs: SQSClient, sns: SNSClient, topic_arn: str, queue: str) -> str:
    """Create ``queue`` and subscribe it to the topic: what an e-mail subscriber would get,
    readable by a script or a test. Returns the queue URL."""
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn(sqs, url))
    return url


def bootstrap(
    settings: CoreSettings, clients: AwsClients, topology: Topology | None = None
) -> BootstrappedStack:
    """Create the bucket, bus, queues + DLQs, rules and topics of the topology (idempotent)."""
    topology = topology or load_topology()
    prefix = settings.name_prefix
    _ensure_bucket(clients.s3, settings.bucket, settings.region)

    try:
        bus_arn = clients.events.create_event_bus(Name=settings.event_bus)["EventBusArn"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
            raise
        bus_arn = clients.events.describe_event_bus(Name=settings.event_bus)["Arn"]

    queue_urls: dict[str, str] = {}
    dlq_urls: dict[str, str] = {}
    queue_arns: dict[str, str] = {}
    for name, spec in topology.queues.items():
        dlq_url = _ensure_queue(
            clients.sqs,
            settings.dlq(name),
            {"MessageRetentionPeriod": str(spec.dlq_retention), "SqsManagedSseEnabled": "true"},
        )
        redrive = {"deadLetterTargetArn": queue_arn(clients.sqs, dlq_url)}
        redrive["maxReceiveCount"] = str(spec.max_receive_count)
        url = _ensure_queue(
            clients.sqs,
            settings.queue(name),
            {
                "VisibilityTimeout": str(spec.visibility_timeout),
                "MessageRetentionPeriod": str(spec.retention),
                "RedrivePolicy": json.dumps(redrive),
                "SqsManagedSseEnabled": "true",
            },
        )
        queue_urls[name], dlq_urls[name] = url, dlq_url
        queue_arns[name] = queue_arn(clients.sqs, url)

    rule_names: dict[str, str] = {}
    rule_arns_by_queue: dict[str, list[str]] = {}
    for rule, rule_spec in topology.rules.items():
        bus = "default" if topology.is_default_bus_rule(rule) else settings.event_bus
        name = rule_name(prefix, rule)
        arn = clients.events.put_rule(
            Name=name,
            EventBusName=bus,
            EventPattern=topology.rule_pattern(rule, settings.bucket, prefix),
            State="ENABLED",
        )["RuleArn"]
        clients.events.put_targets(
            Rule=name,
            EventBusName=bus,
            Targets=[{"Id": f"{rule_spec.target}-queue", "Arn": queue_arns[rule_spec.target]}],
        )
        rule_names[rule] = name
        rule_arns_by_queue.setdefault(rule_spec.target, []).append(arn)

    for queue, arns in rule_arns_by_queue.items():
        clients.sqs.set_queue_attributes(
            QueueUrl=queue_urls[queue],
            Attributes={"Policy": json.dumps(_queue_policy(queue_arns[queue], arns))},
        )

    topic_arns = {
        topic: clients.sns.create_topic(Name=topic_name(prefix, topic))["TopicArn"]
        for topic in topology.topics
    }
    log.info("bootstrap.done", prefix=prefix, bucket=settings.bucket, queues=len(queue_urls))
    return BootstrappedStack(
        bucket=settings.bucket,
        bus_name=settings.event_bus,
        bus_arn=bus_arn,
        queue_urls=queue_urls,
        dlq_urls=dlq_urls,
        queue_arns=queue_arns,
        rule_names=rule_names,
        topic_arns=topic_arns,
    )


def _queue_policy(queue_arn: str, rule_arns: list[str]) -> dict[str, Any]:
    """Only these rules (through EventBridge) may send to the queue."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowPodpipeRules",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arns}},
            }
        ],
    }


def teardown(settings: CoreSettings, clients: AwsClients, topology: Topology | None = None) -> None:
    """Delete what bootstrap created for this prefix (tests use it to stay tidy)."""
    topology = topology or load_topology()
    for rule in topology.rules:
        bus = "default" if topology.is_default_bus_rule(rule) else settings.event_bus
        name = rule_name(settings.name_prefix, rule)
        try:
            targets = clients.events.list_targets_by_rule(Rule=name, EventBusName=bus)["Targets"]
            if targets:
                clients.events.remove_targets(
                    Rule=name, EventBusName=bus, Ids=[t["Id"] for t in targets]
                )
            clients.events.delete_rule(Name=name, EventBusName=bus)
        except ClientError:
            pass
    for queue in topology.queues:
        for name in (settings.queue(queue), settings.dlq(queue)):
            try:
                url = clients.sqs.get_queue_url(QueueName=name)["QueueUrl"]
                clients.sqs.delete_queue(QueueUrl=url)
            except ClientError:
                pass
    with contextlib.suppress(ClientError):
        clients.events.delete_event_bus(Name=settings.event_bus)
