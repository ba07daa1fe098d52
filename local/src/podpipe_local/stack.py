"""podpipe on a laptop: the topology on LocalStack, LocalStack itself, and the services.

`bootstrap` creates what topology.yaml declares on whatever endpoint boto3 is pointed at
(AWS_ENDPOINT_URL), idempotently. `LocalStack` installs the pinned emulator in its own
virtual environment and starts it on the host (no Docker). `LocalStack` and the service
processes record their pids under ``.podpipe/`` so `podpipe local down` stops exactly what
`podpipe local up` started.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
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

LOCALSTACK_REQUIREMENTS = (
    # 4.14+ needs Python 3.12; the project was archived in March 2026, so it stays pinned.
    "localstack-core[runtime]==4.13.1",
    "cbor2<5.7",
    "cryptography<44",
    "pyopenssl<24.3",
    "joserfc<1.1",
    "service_identity<24.3",
)
LOCALSTACK_ENV = {
    "DISABLE_EVENTS": "1",  # else shutdown hangs on an unreachable analytics host
    "SQS_ENDPOINT_STRATEGY": "path",  # else queue URLs name a host with no DNS here
    "LOCALSTACK_HOST": "127.0.0.1:4566",
    "GATEWAY_LISTEN": "127.0.0.1:4566",
    # LocalStack's default gateway (twisted) drops the host of GATEWAY_LISTEN and binds
    # 0.0.0.0 (localstack/runtime/server/twisted.py: "TODO: interface = host?"); hypercorn
    # binds exactly what GATEWAY_LISTEN says, so the emulator answers on loopback only.
    "GATEWAY_SERVER": "hypercorn",
    "DNS_ADDRESS": "0",  # no DNS server (it would listen on 0.0.0.0:53)
    "SERVICES": "s3,sqs,sns,events,iam,sts,cloudwatch,logs",
}
DEFAULT_ENDPOINT = "http://127.0.0.1:4566"
SERVICES = ("transcode", "clips", "transcribe", "llm", "notify", "promote")
# Started by `podpipe local up` next to the services: the loop that fires scheduled releases,
# and the bucket's public/ prefix over HTTP on 127.0.0.1 (PODPIPE_FEED_PORT, default 8765).
RELEASE_PROCESSES = {
    "release-scheduler": [sys.executable, "-m", "podpipe.release"],
    "feed-server": [sys.executable, "-m", "podpipe_cli", "feed", "serve"],
}
LOCAL_AWS_ENV = {
    "AWS_ENDPOINT_URL": DEFAULT_ENDPOINT,
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def local_endpoint() -> str:
    """The emulator's endpoint: AWS_ENDPOINT_URL when set (e.g. another port), else 4566."""
    return os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_ENDPOINT


class LocalStackError(RuntimeError):
    """LocalStack could not be installed or did not come up."""


# --------------------------------------------------------------------------- bootstrap


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
    log.info("bootstrapped", prefix=prefix, bucket=settings.bucket, queues=len(queue_urls))
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


# --------------------------------------------------------------------------- processes


@dataclass
class StateDir:
    """``.podpipe/``: pid files and logs of what `podpipe local up` started."""

    root: Path = field(
        default_factory=lambda: Path(os.environ.get("PODPIPE_STATE_DIR", ".podpipe"))
    )

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    def pid_file(self, name: str) -> Path:
        return self.pids / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def started(self) -> list[str]:
        return sorted(p.stem for p in self.pids.glob("*.pid")) if self.pids.exists() else []


def spawn(name: str, argv: list[str], env: Mapping[str, str], state: StateDir) -> int:
    """Start a detached process whose pid and log live under the state dir."""
    state.logs.mkdir(parents=True, exist_ok=True)
    state.pids.mkdir(parents=True, exist_ok=True)
    with state.log_file(name).open("ab") as log_file:
        process = subprocess.Popen(
            argv,
            env=dict(env),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the make/pytest process that started it
        )
    state.pid_file(name).write_text(str(process.pid))
    return process.pid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return waited == 0


def stop(name: str, state: StateDir, timeout: float = 30.0) -> bool:
    """SIGTERM what the pid file names, wait, SIGKILL if needed; False if nothing was running."""
    pid_file = state.pid_file(name)
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().strip() or 0)
    pid_file.unlink()
    if pid <= 0 or not _alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.2)
    os.killpg(pid, signal.SIGKILL)
    return True


class LocalStack:
    """The pinned LocalStack in its own virtual environment, run on the host."""

    def __init__(self, state: StateDir, endpoint: str | None = None) -> None:
        self.state = state
        # The endpoint the CLI and services use is the one LocalStack listens on.
        self.endpoint = endpoint or local_endpoint()
        self.venv = Path(
            os.environ.get(
                "PODPIPE_LOCALSTACK_VENV", str(Path.home() / ".cache/podpipe/localstack")
            )
        )

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def installed(self) -> bool:
        marker = self.venv / ".podpipe-requirements"
        return (
            self.python.exists()
            and marker.exists()
            and marker.read_text() == "\n".join(LOCALSTACK_REQUIREMENTS)
        )

    def install(self) -> None:
        if self.installed():
            return
        uv = os.environ.get("UV") or shutil.which("uv")  # `uv run` exports UV
        if uv is None:
            raise LocalStackError("uv is not on PATH (make installs it: run `make setup`)")
        log.info("installing localstack", venv=str(self.venv))
        subprocess.run([uv, "venv", "--quiet", "--python", "3.11", str(self.venv)], check=True)
        subprocess.run(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                str(self.python),
                *LOCALSTACK_REQUIREMENTS,
            ],
            check=True,
        )
        (self.venv / ".podpipe-requirements").write_text("\n".join(LOCALSTACK_REQUIREMENTS))

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/_localstack/health", timeout=2) as reply:
                services = json.load(reply).get("services", {})
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return all(
            services.get(s) in {"available", "running"} for s in ("s3", "sqs", "events", "sns")
        )

    def start(self, timeout: float = 120.0) -> bool:
        """Start LocalStack unless one already answers; True if this call started it."""
        if self.healthy():
            return False
        self.install()
        env = {**os.environ, **LOCALSTACK_ENV, **self.listen_env()}
        spawn("localstack", [str(self.python), "-m", "localstack.runtime.main"], env, self.state)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy():
                return True
            time.sleep(0.5)
        raise LocalStackError(
            f"LocalStack did not become healthy in {timeout:.0f} s; see {self.state.log_file('localstack')}"
        )

    def listen_env(self) -> dict[str, str]:
        """Bind the gateway to loopback at the endpoint's port, whatever the endpoint says."""
        port = urllib.parse.urlsplit(self.endpoint).port or 4566
        return {"GATEWAY_LISTEN": f"127.0.0.1:{port}", "LOCALSTACK_HOST": f"127.0.0.1:{port}"}

    def stop(self) -> bool:
        return stop("localstack", self.state)


def service_argv(service: str) -> list[str]:
    return [sys.executable, "-m", f"podpipe_{service}"]


def local_env(settings: CoreSettings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a local service process runs with."""
    # Never the user's own AWS credentials; the endpoint the emulator was started on.
    env = {**os.environ, **LOCAL_AWS_ENV, "AWS_ENDPOINT_URL": local_endpoint()}
    env.update(
        {
            "PODPIPE_NAME_PREFIX": settings.name_prefix,
            "PODPIPE_BUCKET": settings.bucket,
            "PODPIPE_BUS_NAME": settings.event_bus,
            "PODPIPE_LOG_JSON": "true",
        }
    )
    env.update(extra or {})
    return env
