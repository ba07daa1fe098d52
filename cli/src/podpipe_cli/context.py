"""What every episode command shares: AWS clients from the usual configuration, and errors a
host can act on instead of tracebacks.

Profile and region come from ``--profile``/``--region`` or the standard ``AWS_PROFILE``,
``AWS_REGION`` and ``AWS_ENDPOINT_URL`` (LocalStack is just an endpoint); the bucket and
queue names from the PODPIPE_ settings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, NoReturn

import boto3
import typer
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)
from rich.console import Console

from podpipe.dlq import DlqError
from podpipe.layout import InvalidEpisodeKeyError
from podpipe.release.model import ReleaseError
from podpipe.release.shows import ShowConfigError
from podpipe.settings import CoreSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

EXIT_ERROR = 3  # 0/1/2 mean completed/failed/timeout for `podpipe wait`
EXIT_USAGE = 2  # options that cannot go together (typer's own usage errors are 2 too)

ProfileOption = typer.Option(
    None, "--profile", envvar="AWS_PROFILE", help="AWS profile (default: AWS_PROFILE)."
)
RegionOption = typer.Option(
    None, "--region", help="AWS region (default: AWS_REGION, the profile's, or us-east-1)."
)

err_console = Console(stderr=True)

# Short timeouts and few retries: a host at a terminal wants "cannot reach" in seconds.
_CLIENT_CONFIG = Config(
    connect_timeout=5, read_timeout=60, retries={"max_attempts": 2, "mode": "standard"}
)


class CliError(Exception):
    """An error the CLI prints as one clear line (and exits with EXIT_ERROR)."""


@dataclass
class AwsContext:
    settings: CoreSettings
    session: boto3.Session

    @property
    def endpoint(self) -> str:
        return os.environ.get("AWS_ENDPOINT_URL") or f"AWS ({self.session.region_name})"

    @cached_property
    def s3(self) -> S3Client:
        return self.session.client("s3", config=_CLIENT_CONFIG)

    @cached_property
    def sqs(self) -> SQSClient:
        return self.session.client("sqs", config=_CLIENT_CONFIG)

    @property
    def bucket(self) -> str:
        return self.settings.bucket

    def require_bucket(self) -> None:
        """Fail with "is the stack up?" rather than a NoSuchBucket deep inside a command."""
        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in {"404", "NoSuchBucket", "NotFound"}:
                raise CliError(
                    f"bucket {self.bucket!r} does not exist at {self.endpoint}: is the stack up? "
                    "(`make up` locally, `terraform apply` on AWS; PODPIPE_BUCKET names it)"
                ) from None
            raise


def aws_context(profile: str | None, region: str | None) -> AwsContext:
    with friendly_errors():
        session = boto3.Session(profile_name=profile or None)
        resolved = (
            region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or session.region_name
            or "us-east-1"
        )
        session = boto3.Session(profile_name=profile or None, region_name=resolved)
    return AwsContext(settings=CoreSettings(), session=session)


def describe(exc: BaseException, endpoint: str = "") -> str | None:
    """One actionable line for the errors a host meets, or None for a real bug."""
    where = endpoint or os.environ.get("AWS_ENDPOINT_URL") or "AWS"
    if isinstance(
        exc, CliError | InvalidEpisodeKeyError | DlqError | ReleaseError | ShowConfigError
    ):
        return str(exc)
    if isinstance(exc, ProfileNotFound):
        return f"{exc}: check --profile / AWS_PROFILE and ~/.aws/config"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return (
            "no AWS credentials found: pass --profile, set AWS_PROFILE, or export "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (LocalStack accepts any, e.g. 'test')"
        )
    if isinstance(exc, NoRegionError):
        return "no AWS region: pass --region or set AWS_REGION"
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ConnectionClosedError):
        hint = " — is LocalStack running? (`make up`)" if os.environ.get("AWS_ENDPOINT_URL") else ""
        return f"cannot reach {where}{hint}"
    if isinstance(exc, ReadTimeoutError):
        return f"{where} did not answer in time"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in {
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "ExpiredToken",
            "InvalidClientTokenId",
            "UnrecognizedClientException",
            "ExpiredTokenException",
        }:
            return f"AWS refused the credentials ({code}): refresh them or pick another profile"
        if code in {"AccessDenied", "403", "AccessDeniedException"}:
            return f"access denied by {where} ({exc.operation_name}): check the IAM policy"
        if code in {"NoSuchBucket"}:
            return f"bucket does not exist at {where}: is the stack up? (`make up`)"
        if code in {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}:
            return f"queue missing at {where}: is the stack up? (`make up`)"
        return f"{exc.operation_name} failed: {code} {error.get('Message', '')}".strip()
    if isinstance(exc, BotoCoreError):
        return f"AWS client error: {exc}"
    return None


@contextmanager
def friendly_errors(
    endpoint: str = "",
    *,
    json_output: bool = False,
    explain: Callable[[Exception], tuple[str, int] | None] | None = None,
) -> Iterator[None]:
    """Turn known AWS/config errors into one red line and exit code 3 (2 for a wrong choice
    of DLQ options); let bugs through. ``json_output``: a ``--json`` command, whose stdout is
    always ONE JSON document — here ``{"error": ..., "exit_code": ...}``. ``explain``: a
    plugin's own errors (message and exit code), asked before the ones above."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        explained = explain(exc) if explain is not None else None
        if explained is not None:
            fail(*explained, json_output=json_output)
        message = describe(exc, endpoint)
        if message is None:
            raise
        code = EXIT_USAGE if isinstance(exc, DlqError) else EXIT_ERROR
        fail(message, code, json_output=json_output)


def fail(message: str, code: int = EXIT_ERROR, *, json_output: bool = False) -> NoReturn:
    """One red line on stderr (and the JSON document on stdout for ``--json``), then exit."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    if json_output:
        typer.echo(json.dumps({"error": message, "exit_code": code}))
    raise typer.Exit(code) from None
