"""podpipe's one SQS worker runtime: the handler API (service, errors) and the loop (worker)."""

from podpipe.runtime.errors import PermanentError, RejectedInputError, RetryableError
from podpipe.runtime.options import RuntimeOptions
from podpipe.runtime.publisher import AsyncEventPublisher, EventPublisher, PublishError
from podpipe.runtime.serve import QueueResolutionError, run_service, serve
from podpipe.runtime.service import Consumer, MessageContext, Route, Service

__all__ = [
    "AsyncEventPublisher",
    "Consumer",
    "EventPublisher",
    "MessageContext",
    "PermanentError",
    "PublishError",
    "QueueResolutionError",
    "RejectedInputError",
    "RetryableError",
    "Route",
    "RuntimeOptions",
    "Service",
    "run_service",
    "serve",
]
