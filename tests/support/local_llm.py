"""The local LLM server as a real process for the tests that need a model that writes.

`local_llm` (session) assembles the small packaged model once (cached under
~/.cache/podpipe/models, sha256-verified), starts llama.cpp's server on 127.0.0.1 and stops
it at the end if it started it. Tests get the environment the llm service needs, with tight
output limits so eight prompts stay within a couple of minutes on two shared cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from podpipe_local.llm import SMALL_MODEL, LocalLlmServer
from podpipe_local.supervisor import StateDir

REPO = Path(__file__).resolve().parents[2]
TEST_PORT = 8933
TEST_MAX_OUTPUT_TOKENS = 320
TEST_SEED = 42


@dataclass(frozen=True)
class LocalLlm:
    server: LocalLlmServer
    model: str

    def service_env(self) -> dict[str, str]:
        env = self.server.llm_env(self.model)
        env["PODPIPE_LLM_MAX_OUTPUT_TOKENS"] = str(TEST_MAX_OUTPUT_TOKENS)
        env["PODPIPE_LLM_SEED"] = str(TEST_SEED)  # the same answers on every run here
        return env


@pytest.fixture(scope="session")
def local_llm() -> Iterator[LocalLlm]:
    server = LocalLlmServer(StateDir(REPO / ".podpipe" / "test-llm"), port=TEST_PORT)
    started = server.start(SMALL_MODEL)
    try:
        yield LocalLlm(server, SMALL_MODEL)
    finally:
        if started:
            server.stop()
