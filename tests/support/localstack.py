"""Pytest fixtures for tests that talk to LocalStack.

`localstack` (session) makes sure the pinned LocalStack is up — starting it when nothing
answers on 127.0.0.1:4566 and stopping at the end exactly what it started — and points boto3
at it through the standard AWS_ENDPOINT_URL. `stack` (per test) bootstraps the whole
topology under a fresh name prefix and bucket, so tests never see each other's messages.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from filelock import FileLock

from podpipe.events import Envelope, Event, parse_envelope
from podpipe.settings import CoreSettings
from podpipe_local.bootstrap import AwsClients, BootstrappedStack, bootstrap, teardown
from podpipe_local.localstack import LocalStack
from podpipe_local.supervisor import LOCAL_AWS_ENV, StateDir

REPO = Path(__file__).resolve().parents[2]


STATE = REPO / ".podpipe" / "test"


@pytest.fixture(scope="session")
def localstack(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[str]:
    """The one emulator of the test run, shared by every pytest-xdist worker.

    Alone (``worker_id == "master"``) the session starts LocalStack if nothing answers and
    stops what it started. Under xdist the first worker to get here starts it, under a file
    lock in the run's shared temporary directory, and leaves a marker there: the controller
    stops it once every worker has finished (``stop_shared_localstack``), never a worker
    while another still uses it.
    """
    os.environ.update(LOCAL_AWS_ENV)
    emulator = LocalStack(StateDir(STATE))
    if worker_id == "master":
        started = emulator.start()
        try:
            yield emulator.endpoint
        finally:
            if started:
                emulator.stop()
        return
    shared = tmp_path_factory.getbasetemp().parent
    with FileLock(shared / "localstack.lock"):
        if emulator.start():
            (shared / STARTED_MARKER).write_text(emulator.endpoint)
    yield emulator.endpoint


STARTED_MARKER = "localstack.started"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """At the end of an xdist run, in the controller: stop the emulator a worker started."""
    config = session.config
    if hasattr(config, "workerinput"):
        return  # a worker: the controller stops it after every worker is done
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None:
        return
    marker = factory.getbasetemp() / STARTED_MARKER
    if marker.exists():
        LocalStack(StateDir(STATE)).stop()
        marker.unlink()


@dataclass
class Stack:
    """A bootstrapped topology under its own prefix, with boto3 clients on LocalStack."""

    settings: CoreSettings
    created: BootstrappedStack
    clients: AwsClients

    @property
    def bucket(self) -> str:
        return self.settings.bucket

    @property
    def s3(self) -> Any:
        return self.clients.s3

    @property
    def sqs(self) -> Any:
        return self.clients.sqs

    @property
    def events(self) -> Any:
        return self.clients.events

    @property
    def sns(self) -> Any:
        return self.clients.sns

    def queue_url(self, name: str) -> str:
        return self.created.queue_urls[name]

    def dlq_url(self, name: str) -> str:
        return self.created.dlq_urls[name]

    def topic_arn(self, name: str) -> str:
        return self.created.topic_arns[name]

    def env(self) -> dict[str, str]:
        """Environment for a service subprocess bound to this stack."""
        return {
            **os.environ,
            **LOCAL_AWS_ENV,
            "PODPIPE_NAME_PREFIX": self.settings.name_prefix,
            "PODPIPE_BUCKET": self.settings.bucket,
            "PODPIPE_BUS_NAME": self.settings.event_bus,
            "PODPIPE_WAIT_TIME_SECONDS": str(self.settings.wait_time_seconds),
        }

    def drain(self, queue_url: str, *, expect: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Receive (and delete) messages until `expect` arrived or the timeout passed."""
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(got) < expect and time.monotonic() < deadline:
            reply = self.sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            )
            for message in reply.get("Messages", []):
                got.append(message)
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return got

    def drain_events(
        self, queue: str, *, expect: int, timeout: float = 60.0
    ) -> list[Envelope[Event]]:
        messages = self.drain(self.queue_url(queue), expect=expect, timeout=timeout)
        return [parse_envelope(m["Body"]) for m in messages]

    def put_upload(self, episode_id: str, data: bytes, extension: str = "m4a") -> str:
        key = f"uploads/{episode_id}.{extension}"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        return key

    def put_sidecar(self, episode_id: str, metadata: dict[str, Any]) -> None:
        self.s3.put_object(
            Bucket=self.bucket, Key=f"uploads/{episode_id}.json", Body=json.dumps(metadata).encode()
        )


def make_settings(**overrides: Any) -> CoreSettings:
    prefix = "t" + uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "name_prefix": prefix,
        "bucket": f"{prefix}-media",
        "wait_time_seconds": 1,
        "shutdown_grace_seconds": 10.0,
        "log_json": True,
    }
    values.update(overrides)
    return CoreSettings(**values)


@contextmanager
def bootstrapped_stack(**overrides: Any) -> Iterator[Stack]:
    """A fresh topology under a unique prefix; torn down on exit."""
    settings = make_settings(**overrides)
    clients = AwsClients.from_session(boto3.Session())
    created = bootstrap(settings, clients)
    try:
        yield Stack(settings=settings, created=created, clients=clients)
    finally:
        teardown(settings, clients)


@pytest.fixture
def stack(localstack: str) -> Iterator[Stack]:
    with bootstrapped_stack() as created:
        yield created
