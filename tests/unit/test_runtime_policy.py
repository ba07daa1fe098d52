"""The runtime's failure classification and outcomes: pure, no SQS, no sleeping."""

from __future__ import annotations

import pytest

from podpipe.events import S3Location, UploadRejected
from podpipe.runtime.errors import PermanentError, RejectedInputError, RetryableError
from podpipe.runtime.policy import Plan, classify_failure

DECIDED = UploadRejected(source=S3Location(bucket="b", key="uploads/x y.m4a"), reason="bad key")


def test_bad_input_is_done_without_a_dlq_and_tells_on_failure() -> None:
    verdict = classify_failure(
        RejectedInputError("ep.m4a is empty", events=[DECIDED]), attempts=1, last_attempt=False
    )
    assert (verdict.outcome, verdict.action, verdict.keep_error) == ("rejected", "delete", False)
    assert verdict.failure is not None
    assert (verdict.failure.reason, verdict.failure.retryable) == ("ep.m4a is empty", False)
    assert verdict.decided == (DECIDED,)


def test_a_permanent_error_is_dead_lettered_at_once() -> None:
    verdict = classify_failure(PermanentError("catalog broken"), attempts=1, last_attempt=False)
    assert (verdict.outcome, verdict.action) == ("dead-lettered", "dead-letter")
    assert verdict.failure is not None
    assert verdict.failure.attempts == 1


@pytest.mark.parametrize("exc", [RetryableError("throttled"), OSError("disk full")])
def test_anything_else_is_retried_and_hears_no_failure_yet(exc: Exception) -> None:
    verdict = classify_failure(exc, attempts=2, last_attempt=False)
    assert (verdict.outcome, verdict.action, verdict.failure) == ("retrying", "backoff", None)
    assert verdict.reason == str(exc)


def test_the_last_attempt_is_dead_lettered_by_the_runtime_as_a_retryable_failure() -> None:
    verdict = classify_failure(
        RetryableError("throttled", events=[DECIDED]), attempts=5, last_attempt=True
    )
    assert (verdict.outcome, verdict.action) == ("failed", "dead-letter")
    assert verdict.failure is not None
    assert (verdict.failure.retryable, verdict.failure.attempts) == (True, 5)
    assert verdict.decided == (DECIDED,)


def test_an_exception_without_words_is_named_by_its_type() -> None:
    assert classify_failure(ValueError(), attempts=1, last_attempt=False).reason == "ValueError"


def test_a_refused_ack_is_labelled_and_never_counts_as_success() -> None:
    assert Plan("succeeded", "delete").succeeded
    refused = Plan("succeeded", "delete", ack_failed=True)
    assert (refused.label, refused.succeeded, refused.failed) == (
        "succeeded+ack-failed",
        False,
        True,
    )
    assert not Plan("rejected", "delete").failed
    assert Plan("rejected", "delete", ack_failed=True).failed
    assert not Plan("released", "release").failed
