"""docker/ checked statically (`make images-check` builds and runs them): pinned bases, non-root, no secrets.

A small Dockerfile reader (continuations, global ARG defaults, stages) is enough for the
properties that matter: what every FROM resolves to, who the final stage runs as, what it
installs, which module it starts, and which settings its ENV lines feed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.unit.infra_support import REPO, SERVICES, load_module, settings_env_names

DOCKER = REPO / "docker"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
SERVICE_DOCKERFILES = {s: DOCKER / f"{s}.Dockerfile" for s in SERVICES}
LOCAL_BASES = {"podpipe-base:local", "podpipe-builder:local"}  # built from base.Dockerfile
PINNED = re.compile(r"^[\w./-]+(:\d+\.\d+\.\d+[\w.-]*)?(@sha256:[0-9a-f]{64})?$")
SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|build-essential|make|git|cmake|clang|uv)\b")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [arg for kw, arg in self.instructions if kw == keyword]


@dataclass
class Dockerfile:
    path: Path
    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def _instructions(text: str) -> list[tuple[str, str]]:
    joined: list[str] = []
    current = ""
    in_heredoc: str | None = None
    for line in text.splitlines():
        if in_heredoc is not None:
            current += "\n" + line
            if line.strip() == in_heredoc:
                joined.append(current)
                current, in_heredoc = "", None
            continue
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        current = f"{current} {stripped}" if current else stripped
        heredoc = re.search(r"<<-?'?(\w+)'?", stripped)
        if heredoc:
            in_heredoc = heredoc.group(1)
            continue
        if current.endswith("\\"):
            current = current[:-1].rstrip()
            continue
        joined.append(current)
        current = ""
    return [(i.split(None, 1)[0].upper(), i.split(None, 1)[1] if " " in i else "") for i in joined]


def read_dockerfile(path: Path) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for keyword, argument in _instructions(path.read_text()):
        if keyword == "FROM":
            match = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", argument, re.I)
            assert match, f"{path.name}: cannot read FROM {argument!r}"
            base = re.sub(
                r"\$\{(\w+)\}|\$(\w+)",
                lambda m: global_args.get(m.group(1) or m.group(2), m.group(0)),
                match.group(1),
            )
            stages.append(Stage(base, match.group(2)))
        elif not stages:
            if keyword == "ARG":
                name, _, default = argument.partition("=")
                global_args[name.strip()] = default.strip()
        else:
            stages[-1].instructions.append((keyword, argument))
    assert stages, f"{path.name} has no FROM"
    return Dockerfile(path, global_args, stages)


@pytest.fixture(params=DOCKERFILES, ids=lambda p: p.name)
def dockerfile(request: pytest.FixtureRequest) -> Dockerfile:
    path: Path = request.param
    return read_dockerfile(path)


def test_there_is_a_shared_base_and_one_dockerfile_per_service() -> None:
    assert {p.name for p in DOCKERFILES} == {"base.Dockerfile"} | {
        f"{s}.Dockerfile" for s in SERVICES
    }
    base = read_dockerfile(DOCKER / "base.Dockerfile")
    assert {s.name for s in base.stages} >= {"builder", "runtime"}


def test_every_base_image_is_pinned(dockerfile: Dockerfile) -> None:
    earlier: set[str] = set()
    for stage in dockerfile.stages:
        if stage.base in earlier:
            pass  # a stage of this file
        elif stage.base in LOCAL_BASES:
            assert dockerfile.path.name != "base.Dockerfile"
        else:
            assert PINNED.match(stage.base), f"{dockerfile.path.name}: {stage.base} is not pinned"
            assert ":" in stage.base or "@sha256:" in stage.base, stage.base
            assert not stage.base.endswith(":latest"), stage.base
        if stage.name:
            earlier.add(stage.name)
    for instruction in (i for s in dockerfile.stages for kw, i in s.instructions if kw == "COPY"):
        source = re.search(r"--from=(\S+)", instruction)
        if source and "/" in source.group(1):
            assert PINNED.match(source.group(1)), instruction


def test_the_image_runs_as_the_non_root_user_the_task_definition_expects(
    dockerfile: Dockerfile,
) -> None:
    users = dockerfile.final.args("USER")
    if dockerfile.path.name == "base.Dockerfile":
        users = next(s for s in dockerfile.stages if s.name == "runtime").args("USER")
    assert users, f"{dockerfile.path.name}: the final stage never sets USER"
    final_user = users[-1].strip()
    assert final_user.split(":")[0] not in {"root", "0"}, final_user
    task_user = load_module(REPO / "infra" / "terraform" / "modules" / "service").locals[
        "container_user"
    ]
    assert final_user == task_user
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    for name in SERVICES:
        assert compose["services"][name]["user"] == task_user


def test_no_secret_lives_in_an_image(dockerfile: Dockerfile) -> None:
    for stage in dockerfile.stages:
        for keyword, argument in stage.instructions:
            if keyword in {"ENV", "ARG"}:
                names = re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=", argument) or [
                    argument.split()[0]
                ]
                for name in names:
                    assert not SECRET_NAME.search(name), f"{dockerfile.path.name}: {keyword} {name}"
    text = dockerfile.path.read_text()
    assert not re.search(r"AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY", text)
    assert not re.search(r"COPY\s+[^\n]*(\.env|\.aws|credentials|id_rsa)", text)


def test_the_build_context_leaves_local_state_out() -> None:
    for path in DOCKERFILES:
        ignore = (path.parent / f"{path.name}.dockerignore").read_text().split()
        assert ignore[ignore.index("*") :][0] == "*", f"{path.name}: start from an empty context"
        reincluded = {line[1:] for line in ignore if line.startswith("!")}
        assert not reincluded & {".venv", ".git", ".podpipe", "infra", "tests"}
        # Operator tooling stays out of every image: the CLI, the local stack, the studio.
        assert not reincluded & {"cli", "local", "studio"}, path.name


@pytest.mark.parametrize("service", SERVICES)
def test_service_image_builds_from_the_lock_and_ships_no_build_tools(service: str) -> None:
    image = read_dockerfile(SERVICE_DOCKERFILES[service])
    assert image.global_args["BASE_IMAGE"] == "podpipe-base:local"
    assert image.final.base == "podpipe-base:local", "the final stage must be the runtime base"
    syncs = [i for s in image.stages for kw, i in s.instructions if kw == "RUN" and "uv sync" in i]
    assert syncs, "dependencies come from uv.lock"
    assert all("--frozen" in i and f"--package podpipe-{service}" in i for i in syncs)
    assert all("--no-dev" in i for i in syncs)
    for keyword, argument in image.final.instructions:
        if keyword == "RUN":
            assert not BUILD_TOOLS.search(argument), f"build tool in the final image: {argument}"
        if keyword == "COPY" and "--from=" in argument:
            assert re.search(r"/app/\.venv|/opt/whisper", argument), argument
    assert image.final.args("CMD") == [f'["python", "-m", "podpipe_{service}"]']


@pytest.mark.parametrize("service", SERVICES)
def test_every_setting_an_image_sets_is_read_by_its_service(service: str) -> None:
    image = read_dockerfile(SERVICE_DOCKERFILES[service])
    names = {
        name
        for argument in image.final.args("ENV")
        for name in re.findall(r"(?:^|\s)(PODPIPE_[A-Z0-9_]+)=", argument)
    }
    assert names <= settings_env_names(service), names - settings_env_names(service)


def test_transcode_image_has_ffmpeg() -> None:
    runs = " ".join(read_dockerfile(SERVICE_DOCKERFILES["transcode"]).final.args("RUN"))
    assert re.search(r"apt-get install .*\bffmpeg\b", runs)
    assert "rm -rf /var/lib/apt/lists" in runs


def test_transcribe_image_bakes_the_whisper_model_with_a_size_build_arg() -> None:
    image = read_dockerfile(SERVICE_DOCKERFILES["transcribe"])
    model = next(s for s in image.stages if s.name == "model")
    assert any(a.startswith("WHISPER_MODEL=") for a in model.args("ARG"))
    # The model stage runs a script (no heredoc: the classic builder cannot read one).
    script = DOCKER / "transcribe_bake_model.py"
    assert any(f"COPY docker/{script.name} " in f"COPY {c}" for c in model.args("COPY"))
    assert any("python /tmp/bake_model.py" in r for r in model.args("RUN"))
    assert "download_model" in script.read_text()
    assert "resolve_model" in script.read_text()
    assert f"!docker/{script.name}" in (DOCKER / "transcribe.Dockerfile.dockerignore").read_text()
    env = " ".join(image.final.args("ENV"))
    assert "PODPIPE_WHISPER_MODEL=/opt/whisper/${WHISPER_MODEL}" in env
    assert "HF_HUB_OFFLINE=1" in env
    assert any("--from=model" in c and "/opt/whisper" in c for c in image.final.args("COPY"))


def test_compose_runs_the_four_services_hardened_against_localstack() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert PINNED.match(services["localstack"]["image"])
    assert re.search(r":\d+\.\d+\.\d+$", services["localstack"]["image"])
    for name in SERVICES:
        service = services[name]
        assert service["image"].startswith(f"podpipe-{name}:")
        assert service["read_only"] is True
        assert any(str(t).startswith("/tmp") for t in service["tmpfs"])
        assert service["cap_drop"] == ["ALL"]
        assert service["environment"]["AWS_ENDPOINT_URL"] == "http://localstack:4566"
        # LocalStack's dummy credentials only.
        assert service["environment"]["AWS_ACCESS_KEY_ID"] == "test"
        assert service["depends_on"]["bootstrap"]["condition"] == "service_completed_successfully"
        podpipe_vars = {k for k in service["environment"] if k.startswith("PODPIPE_")}
        assert podpipe_vars <= settings_env_names(name), podpipe_vars - settings_env_names(name)
    assert services["bootstrap"]["command"] == ["podpipe", "local", "bootstrap"]


def test_llm_build_has_the_prompt_catalog_its_wheel_force_includes() -> None:
    pyproject = (REPO / "services" / "llm" / "pyproject.toml").read_text()
    image = read_dockerfile(SERVICE_DOCKERFILES["llm"])
    build_copies = " ".join(image.stages[0].args("COPY"))
    assert '"../../prompts"' in pyproject  # the wheel force-includes the repo's catalog...
    assert re.search(r"\bprompts prompts\b", build_copies), "the wheel build needs prompts/"
