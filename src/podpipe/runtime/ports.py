"""The SQS calls the runtime makes, as a Protocol: aiobotocore's client satisfies it, and so
does the in-memory fake the unit tests use (no patching of boto3 anywhere)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from botocore.exceptions import ClientError

# ChangeMessageVisibility / DeleteMessage on a receipt handle that no longer owns the message
# (visibility expired and someone else received it, or the message is gone).
STALE_RECEIPT_CODES = frozenset(
    {
        "ReceiptHandleIsInvalid",
        "InvalidParameterValue",
        "MessageNotInflight",
        "AWS.SimpleQueueService.MessageNotInflight",
        "AWS.SimpleQueueService.NonExistentQueue",
    }
)


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def is_stale_receipt(exc: BaseException) -> bool:
    return error_code(exc) in STALE_RECEIPT_CODES


class SqsClient(Protocol):
    """The subset of SQS the runtime uses (keyword names as in the AWS API)."""

    async def get_queue_url(self, *, QueueName: str) -> Mapping[str, Any]: ...  # noqa: N803

    async def get_queue_attributes(
        self,
        *,
        QueueUrl: str,  # noqa: N803
        AttributeNames: Sequence[str],  # noqa: N803
    ) -> Mapping[str, Any]: ...

    async def receive_message(
        self,
        *,
        QueueUrl: str,  # noqa: N803
        MaxNumberOfMessages: int,  # noqa: N803
        WaitTimeSeconds: int,  # noqa: N803
        MessageSystemAttributeNames: Sequence[str],  # noqa: N803
        MessageAttributeNames: Sequence[str],  # noqa: N803
    ) -> Mapping[str, Any]: ...

    async def delete_message(self, *, QueueUrl: str, ReceiptHandle: str) -> Mapping[str, Any]: ...  # noqa: N803

    async def change_message_visibility(
        self,
        *,
        QueueUrl: str,  # noqa: N803
        ReceiptHandle: str,  # noqa: N803
        VisibilityTimeout: int,  # noqa: N803
    ) -> Mapping[str, Any]: ...

    async def send_message(
        self,
        *,
        QueueUrl: str,  # noqa: N803
        MessageBody: str,  # noqa: N803
        MessageAttributes: Mapping[str, Any],  # noqa: N803
    ) -> Mapping[str, Any]: ...
