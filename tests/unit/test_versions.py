"""The version rule: which upload is a new recording, who moves the old outputs aside."""

from __future__ import annotations

import pytest

from podpipe.events import S3Location
from podpipe.versions import VersionRecord, VersionStart, next_step, version_started


def record(etag: str, state: str = "current", owner: str = "m-1") -> VersionRecord:
    return VersionRecord.model_validate(
        {
            "number": 2,
            "source_etag": etag,
            "state": state,
            "claimed_by": owner,
            "claimed_at": 0.0,
            "previous": 1,
        }
    )


@pytest.mark.parametrize(
    ("current", "etag", "owner", "step"),
    [
        (record("a"), "a", "m-9", "same"),  # an identical re-upload: nothing visible
        (record("a"), "b", "m-9", "claim-next"),  # a different recording
        (record("b", "archiving", "m-1"), "b", "m-1", "finish-archive"),  # claimer redelivered
        (record("b", "archiving", "m-1"), "b", "m-2", "busy"),  # the other stage waits
        (record("b", "archiving", "m-1"), "c", "m-3", "busy"),  # a third take waits its turn
    ],
)
def test_next_step(current: VersionRecord, etag: str, owner: str, step: str) -> None:
    assert next_step(current, etag, owner) == step


def test_only_a_version_begun_here_is_announced() -> None:
    source = S3Location(bucket="b", key="uploads/ep1.m4a")
    assert version_started("ep1", source, VersionStart(1)) == []
    assert version_started("ep1", source, VersionStart(3)) == []  # the other stage began it
    [event] = version_started("ep1", source, VersionStart(3, started_here=True, previous=2))
    assert (event.version, event.previous_version) == (3, 2)
    assert event.archived_prefix == "episodes/ep1/versions/2/"
