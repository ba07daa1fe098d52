"""`podpipe local down` stops every process it started, together, and only those."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from podpipe_local.supervisor import StateDir, spawn, stop_all

# Drains on SIGTERM like a service: it finishes only once its peer has been told to stop as
# well (the peer's mark exists), then says it exited cleanly. Stopped one after the other,
# the first would wait for a signal its peer only gets after it, and be killed at the deadline.
DRAINS_WITH_ITS_PEER = """
import pathlib, signal, sys, time
me, peer = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
def drain(*_):
    me.with_suffix(".term").touch()
    deadline = time.monotonic() + 20
    while not peer.with_suffix(".term").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if peer.with_suffix(".term").exists():
        me.with_suffix(".clean").touch()
    sys.exit(0)
signal.signal(signal.SIGTERM, drain)
me.with_suffix(".ready").touch()
while True:
    time.sleep(0.1)
"""


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 20
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_every_process_is_told_to_stop_before_any_is_waited_for(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    a, b = tmp_path / "a", tmp_path / "b"
    for name, me, peer in (("a", a, b), ("b", b, a)):
        spawn(name, [sys.executable, "-c", DRAINS_WITH_ITS_PEER, str(me), str(peer)], {}, state)
    for me in (a, b):
        _wait_for(me.with_suffix(".ready"))

    stopped = stop_all(["a", "b", "never-started"], state, timeout=15)

    assert stopped == {"a": True, "b": True, "never-started": False}
    assert [m.with_suffix(".clean").exists() for m in (a, b)] == [True, True]  # both drained
    assert state.started() == []  # their pid files are gone: a second down stops nothing
    assert stop_all(["a", "b"], state) == {"a": False, "b": False}
