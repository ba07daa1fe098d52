"""Services never import each other and the kernel never imports a service: they talk only
through events (docs: design, "House style"). Read from the source with ast, nothing imported."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (REPO / "services").iterdir() if (p / "src").is_dir())


def imported_packages(root: Path) -> Iterator[tuple[Path, int, str]]:
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, node.lineno, alias.name.partition(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield path, node.lineno, node.module.partition(".")[0]


def service_packages() -> set[str]:
    return {f"podpipe_{name}" for name in SERVICES}


def test_the_services_are_found() -> None:
    assert {"transcode", "clips", "transcribe", "llm", "notify"} <= set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service(service: str) -> None:
    own = f"podpipe_{service}"
    others = service_packages() - {own}
    crossing = [
        f"{path.relative_to(REPO)}:{line} imports {package}"
        for path, line, package in imported_packages(REPO / "services" / service / "src")
        if package in others
    ]
    assert crossing == []


def test_the_kernel_imports_no_service() -> None:
    crossing = [
        f"{path.relative_to(REPO)}:{line} imports {package}"
        for path, line, package in imported_packages(REPO / "src" / "podpipe")
        if package in service_packages()
    ]
    assert crossing == []
