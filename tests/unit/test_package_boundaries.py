"""What each package may carry: the kernel (`podpipe`) is all a service image shares, and the
operator tooling (`podpipe-cli` with typer and rich, `podpipe-local`) never rides into one.

Two views of the same rule: uv.lock, which is exactly what `uv sync --frozen --no-dev
--package podpipe-<service>` installs in an image (required dependencies, followed
transitively; not dev groups, not optional extras such as a service's `cli` extra), and the
source, whose imports must not reach for what the lock leaves out.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCK = tomllib.loads((REPO / "uv.lock").read_text())
PACKAGES = {package["name"]: package for package in LOCK["package"]}

# Never in a service image: the operator CLI and its terminal libraries, the local stack.
OPERATOR_ONLY = frozenset({"typer", "rich", "podpipe-cli", "podpipe-local"})
OPERATOR_MODULES = frozenset({"typer", "rich", "podpipe_cli", "podpipe_local"})


def _service_projects() -> dict[str, str]:
    """Service folder -> project name, from services/*/pyproject.toml: a new service (clips)
    is covered the day its folder lands."""
    found = {}
    for pyproject in sorted(REPO.glob("services/*/pyproject.toml")):
        found[pyproject.parent.name] = tomllib.loads(pyproject.read_text())["project"]["name"]
    return found


SERVICES = _service_projects()


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_closure(root: str, extras: frozenset[str] = frozenset()) -> set[str]:
    """Every locked package `uv sync --no-dev --package <root>` installs: required
    dependencies transitively, plus the optional ones of the extras a dependency asks for."""
    seen: set[str] = set()
    pending: list[tuple[str, frozenset[str]]] = [(root, extras)]
    expanded: set[tuple[str, str]] = set()
    while pending:
        name, wanted = pending.pop()
        package = PACKAGES[_normalise(name)]
        name = package["name"]
        edges = [] if name in seen else list(package.get("dependencies", []))
        seen.add(name)
        for extra in wanted:
            if (name, extra) not in expanded:
                expanded.add((name, extra))
                edges.extend(package.get("optional-dependencies", {}).get(extra, []))
        pending.extend((edge["name"], frozenset(edge.get("extra", []))) for edge in edges)
    return seen


def test_every_service_is_in_the_lock() -> None:
    assert {"transcode", "transcribe", "llm", "notify", "promote"} <= set(SERVICES)
    missing = {name for name in SERVICES.values() if _normalise(name) not in PACKAGES}
    assert not missing, f"uv.lock is stale (run `python3.11 -m uv lock`): {missing}"


@pytest.mark.parametrize("project", sorted(SERVICES.values()))
def test_a_service_image_installs_no_operator_tooling(project: str) -> None:
    installed = installed_closure(project)
    assert "podpipe" in installed, "every service image carries the kernel"
    assert not installed & OPERATOR_ONLY, (
        f"{project} would ship {sorted(installed & OPERATOR_ONLY)} in its image; "
        "put commands behind the service's `cli` extra"
    )


def test_the_kernel_installs_no_operator_tooling() -> None:
    assert not installed_closure("podpipe") & OPERATOR_ONLY


def test_the_walk_finds_the_cli_where_it_belongs() -> None:
    """The check above can fail: the CLI, a service's cli extra and the studio do reach typer."""
    assert {"typer", "rich", "podpipe-local"} <= installed_closure("podpipe-cli")
    assert "typer" in installed_closure("podpipe-llm", frozenset({"cli"}))
    assert "typer" in installed_closure("podpipe-studio")


# ------------------------------------------------------------------------------ the source

FIRST_PARTY_ROOTS = {
    "podpipe": REPO / "src",
    "podpipe_cli": REPO / "cli" / "src",
    "podpipe_local": REPO / "local" / "src",
    **{f"podpipe_{folder}": REPO / "services" / folder / "src" for folder in SERVICES},
}


def _module_file(name: str) -> Path | None:
    parts = name.split(".")
    root = FIRST_PARTY_ROOTS.get(parts[0])
    if root is None:
        return None
    path = root.joinpath(*parts)
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, module: str) -> Iterator[str]:
    """Absolute names imported anywhere in the file (also inside functions and
    TYPE_CHECKING blocks: a lazy import still needs the package installed)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def imported_by(entry: str) -> dict[str, str]:
    """Every module name the static import closure of ``entry`` imports -> who imports it."""
    importers: dict[str, str] = {}
    seen: set[str] = set()
    pending = [entry]
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _module_file(module)
        if path is None:
            continue
        parts = module.split(".")
        pending.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        for name in _imports(path, module):
            importers.setdefault(name, str(path.relative_to(REPO)))
            pending.append(name)
    return importers


def _operator_imports(importers: dict[str, str]) -> dict[str, str]:
    return {
        name: where for name, where in importers.items() if name.split(".")[0] in OPERATOR_MODULES
    }


def test_the_kernel_imports_neither_the_cli_nor_the_local_tooling_nor_a_service() -> None:
    offenders = []
    for path in sorted((REPO / "src" / "podpipe").rglob("*.py")):
        module = ".".join(path.relative_to(REPO / "src").with_suffix("").parts)
        module = module.removesuffix(".__init__")
        for name in _imports(path, module):
            top = name.split(".")[0]
            if top in OPERATOR_MODULES or (top.startswith("podpipe_")):
                offenders.append(f"{path.relative_to(REPO)}: {name}")
    assert not offenders


# What the images run: each service's CMD, and the commands ECS runs from an image with its
# command overridden (the weekly prep task in the llm image, the release service in notify's).
IMAGE_ENTRIES = sorted(
    {f"podpipe_{folder}.__main__" for folder in SERVICES}
    | {"podpipe_llm.prep.__main__", "podpipe.release.__main__"}
)


@pytest.mark.parametrize("entry", IMAGE_ENTRIES)
def test_what_an_image_runs_imports_no_operator_tooling(entry: str) -> None:
    """`python -m <entry>` never reaches typer, rich, the CLI or the local tooling; a
    service's own CLI modules are loaded by `podpipe` only, through the entry point."""
    assert _module_file(entry) is not None, f"{entry} is gone: update IMAGE_ENTRIES"
    assert not _operator_imports(imported_by(entry))


def test_the_local_tooling_does_not_import_the_cli() -> None:
    """podpipe-cli depends on podpipe-local, never the other way round (the local tooling
    runs the CLI only as a process: `python -m podpipe_cli ...`)."""
    importers: dict[str, str] = {}
    for path in sorted((REPO / "local" / "src" / "podpipe_local").rglob("*.py")):
        module = ".".join(path.relative_to(REPO / "local" / "src").with_suffix("").parts)
        importers.update(imported_by(module.removesuffix(".__init__")))
    assert not {
        name: where for name, where in importers.items() if name.split(".")[0] == "podpipe_cli"
    }
    assert not {n for n in importers if n.split(".")[0] in {"typer", "rich"}}
