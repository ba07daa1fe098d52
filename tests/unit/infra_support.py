"""Read infra/terraform offline: python-hcl2 into a small, parser-version-proof model.

These consistency tests read the HCL itself (fast, no `terraform init`; tests/infra runs the CLI). Two
parsers may provide the ``hcl2`` module (checkov pins bc-python-hcl2, the dev group has
python-hcl2 8): the first wraps every attribute value in a one-element list, the second keeps
string quotes and marks blocks with ``__is_block__``. `Body` hides both.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from hcl2.api import load as hcl_load
from hcl2.api import loads as hcl_loads
from pydantic_settings import BaseSettings

from podpipe.settings import CoreSettings

REPO = Path(__file__).resolve().parents[2]
TF_ROOT = REPO / "infra" / "terraform"
TOPOLOGY_FILE = REPO / "src" / "podpipe" / "topology.yaml"
SERVICES = ("transcode", "clips", "transcribe", "llm", "notify", "promote")

_MARKERS = {"__start_line__", "__end_line__", "__is_block__", "__comments__", "__inline_comments__"}


@cache
def _style() -> str:
    value = hcl_loads('a = "x"\n')["a"]
    if isinstance(value, list):
        return "wrapped"
    if value == '"x"':
        return "quoted"
    return "plain"


def clean(value: Any) -> Any:
    """Plain Python: no parser markers, no kept quotes, nulls as None."""
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items() if k not in _MARKERS}
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, str):
        if _style() == "quoted" and len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if value in {"null", "${null}"}:
            return None
        if value.startswith("${"):
            # bc-python-hcl2 renders `null` inside an expression as Python's None.
            value = re.sub(r"(?<![\w.\"'])None(?![\w\"'])", "null", value)
    return value


class Body:
    """A block body: attributes by name, nested blocks by type."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = {clean(k): v for k, v in raw.items() if k not in _MARKERS}

    def has(self, name: str) -> bool:
        return name in self.raw

    def attr(self, name: str, default: Any = ...) -> Any:
        if name not in self.raw:
            if default is ...:
                raise KeyError(f"no attribute {name!r}; have {sorted(self.raw)}")
            return default
        value = self.raw[name]
        if _style() == "wrapped" and isinstance(value, list) and len(value) == 1:
            value = value[0]
        return clean(value)

    def text(self, name: str) -> str:
        """An attribute as text (expressions come back as "${...}" strings)."""
        return str(self.attr(name))

    def blocks(self, name: str) -> list[Body]:
        return [Body(b) for b in self.raw.get(name, []) if isinstance(b, dict)]

    def dynamic(self, name: str) -> list[Body]:
        """`dynamic "<name>"` blocks, as bodies holding for_each and content."""
        found = []
        for block in self.raw.get("dynamic", []):
            for label, inner in block.items():
                if clean(label) == name:
                    found.append(Body(inner))
        return found


@dataclass
class Module:
    """Every top-level block of a Terraform module directory, by kind and name."""

    path: Path
    resources: dict[tuple[str, str], Body] = field(default_factory=dict)
    data: dict[tuple[str, str], Body] = field(default_factory=dict)
    modules: dict[str, Body] = field(default_factory=dict)
    variables: dict[str, Body] = field(default_factory=dict)
    outputs: dict[str, Body] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    moved: list[Body] = field(default_factory=list)

    def resource(self, kind: str, name: str) -> Body:
        return self.resources[(kind, name)]

    def resources_of(self, kind: str) -> dict[str, Body]:
        return {name: body for (k, name), body in self.resources.items() if k == kind}


def parse_file(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        parsed: dict[str, Any] = hcl_load(handle)
    return parsed


def _two_labels(blocks: list[dict[str, Any]]) -> dict[tuple[str, str], Body]:
    found: dict[tuple[str, str], Body] = {}
    for block in blocks:
        for kind, named in block.items():
            for name, body in named.items():
                found[(clean(kind), clean(name))] = Body(body)
    return found


def _one_label(blocks: list[dict[str, Any]]) -> dict[str, Body]:
    return {clean(name): Body(body) for block in blocks for name, body in block.items()}


@cache
def load_module(directory: Path = TF_ROOT) -> Module:
    module = Module(directory)
    for path in sorted(directory.glob("*.tf")):
        doc = parse_file(path)
        module.resources.update(_two_labels(doc.get("resource", [])))
        module.data.update(_two_labels(doc.get("data", [])))
        module.modules.update(_one_label(doc.get("module", [])))
        module.variables.update(_one_label(doc.get("variable", [])))
        module.outputs.update(_one_label(doc.get("output", [])))
        module.moved += [Body(block) for block in doc.get("moved", [])]
        for block in doc.get("locals", []):
            body = Body(block)
            module.locals.update({name: body.attr(name) for name in body.raw})
    return module


def load_topology_yaml() -> dict[str, Any]:
    """The raw declaration, read the way Terraform's yamldecode reads it."""
    loaded: dict[str, Any] = yaml.safe_load(TOPOLOGY_FILE.read_text())
    return loaded


def all_tf_files() -> list[Path]:
    return sorted(p for p in TF_ROOT.rglob("*.tf") if ".terraform" not in p.parts)


def settings_class(service: str) -> type[BaseSettings]:
    """The service's settings class (a CoreSettings subclass), or CoreSettings if none yet."""
    try:
        module = importlib.import_module(f"podpipe_{service}.settings")
    except ModuleNotFoundError:
        return CoreSettings
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, CoreSettings) and value is not CoreSettings
    ]
    # The most derived one (a module may import the base class it extends).
    return max(found, key=lambda cls: len(cls.__mro__), default=CoreSettings)


def settings_env_names(service: str) -> set[str]:
    """Every environment variable the service's settings read."""
    settings = settings_class(service)
    prefix = str(settings.model_config.get("env_prefix", ""))
    names = set()
    for name, info in settings.model_fields.items():
        alias = info.validation_alias
        names.add(alias.upper() if isinstance(alias, str) else (prefix + name).upper())
    return names
