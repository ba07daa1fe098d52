"""`podpipe studio` as an operator starts it: a process on 127.0.0.1 that prints its URL with
the launch token, refuses requests without it, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import http.cookiejar
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from tests.support.localstack import Stack

pytestmark = pytest.mark.integration


def test_the_command_prints_a_token_url_on_loopback_and_stops_on_ctrl_c(stack: Stack) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "podpipe_cli", "studio", "--port", "0"],
        env=stack.env(),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        # Ctrl-C in a terminal: SIGINT at its default even when this run inherited it ignored
        # (a suite started in the background by a script, e.g. `nohup ... &`, ignores it).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    later: list[str] = []
    try:
        url = ""
        deadline = time.monotonic() + 60
        assert process.stderr is not None
        while not url and time.monotonic() < deadline:
            line = process.stderr.readline()
            assert line or process.poll() is None, "podpipe studio exited early"
            if line.startswith("open"):
                url = line.split()[1]
        # Keep reading stderr: a process blocked on a full pipe could never stop.
        threading.Thread(target=lambda: later.extend(process.stderr or ()), daemon=True).start()
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1"
        assert parts.query.startswith("token=")
        base = f"{parts.scheme}://{parts.netloc}/"

        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base, timeout=10)
        assert refused.value.code == 403

        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with browser.open(url, timeout=30) as reply:  # 303 → cookie → the episodes page
            page = reply.read().decode()
            assert reply.url == base
        assert "No episodes in this bucket yet" in page
        assert [c.name for c in jar] == ["podpipe_studio"]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail(f"podpipe studio did not stop on Ctrl-C; its stderr: {''.join(later)}")
    assert code == 0, "".join(later)
