"""The prompt catalog: Markdown files with front matter, checked completely at load time.

A prompt file::

    ---
    id: blog-post
    description: ...
    model: default            # or a model id / inference profile / prompt version ARN,
                              # optionally prefixed "bedrock:", "openai:" or "extractive"
    max_output_tokens: 3000
    temperature: 0.6
    output: markdown          # or json, with `schema: <name>` from podpipe_llm.schemas
    enabled: true
    ---
    Body with {{ variables }}; {{ outputs.chapters }} is another prompt's output.

Everything that can be wrong with a catalog (an unknown variable, a dependency on a missing
or disabled prompt, a cycle, an unknown schema) raises :class:`CatalogError` when the
catalog is loaded, never halfway through an episode. The packaged defaults live in the
repository's ``prompts/`` directory; files under the bucket's ``prompts/`` prefix replace
defaults with the same id (or add prompts), so a team edits prompts without redeploying.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import frontmatter
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from podpipe.documents import Transcript
from podpipe.layout import EpisodeMetadata
from podpipe_llm.schemas import SCHEMAS

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DEFAULT_MODEL = "default"
PROMPTS_PREFIX = "prompts/"
EPISODE_VARIABLES = frozenset(
    {
        "transcript",
        "title",
        "show",
        "hosts",
        "guests",
        "duration",
        "duration_seconds",
        "language",
        "episode_id",
    }
)
OUTPUT_PREFIX = "outputs."
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")
_ID = r"^[a-z0-9][a-z0-9-]{0,62}$"
DEFAULT_SYSTEM = (
    "You are a careful editor for a podcast production team. You write only from the "
    "transcript you are given, never invent facts, names or links, and follow the requested "
    "format exactly."
)


class CatalogError(ValueError):
    """The catalog cannot be used as written (reported at load time)."""


class PromptSpec(BaseModel):
    """One catalog entry: front matter plus the template body."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=_ID)
    description: str = Field(min_length=1)
    model: str = DEFAULT_MODEL
    max_output_tokens: int = Field(default=1000, ge=16, le=32_000)
    temperature: float = Field(default=0.5, ge=0, le=2)
    output: Literal["markdown", "json"] = "markdown"
    output_schema: str | None = Field(default=None, alias="schema")
    enabled: bool = True
    system: str = DEFAULT_SYSTEM
    template: str
    source: str = ""

    @property
    def extension(self) -> str:
        return "json" if self.output == "json" else "md"

    @property
    def variables(self) -> list[str]:
        return list(dict.fromkeys(_PLACEHOLDER.findall(self.template)))

    @property
    def shares_prefix(self) -> bool:
        """True when the runner supplies the transcript in the episode's shared prefix."""
        return "transcript" not in self.variables

    @property
    def depends_on(self) -> list[str]:
        return [v[len(OUTPUT_PREFIX) :] for v in self.variables if v.startswith(OUTPUT_PREFIX)]


def parse_prompt(text: str, source: str) -> PromptSpec:
    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{source}: front matter is not valid YAML: {exc}") from exc
    if not post.metadata:
        raise CatalogError(f"{source}: no front matter (a '---' block with id, description...)")
    try:
        spec = PromptSpec.model_validate(
            {**post.metadata, "template": post.content.strip() + "\n", "source": source}
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()
        )
        raise CatalogError(f"{source}: {problems}") from exc
    _check_spec(spec)
    return spec


def _check_spec(spec: PromptSpec) -> None:
    where = f"{spec.source} (prompt {spec.id!r})"
    if spec.output == "json":
        if spec.output_schema is None:
            raise CatalogError(f"{where}: output json needs `schema:` (one of {sorted(SCHEMAS)})")
        if spec.output_schema not in SCHEMAS:
            raise CatalogError(
                f"{where}: unknown schema {spec.output_schema!r}; known: {sorted(SCHEMAS)}"
            )
    elif spec.output_schema is not None:
        raise CatalogError(f"{where}: `schema:` only applies to output json")
    for name in spec.variables:
        if name == "schema":
            if spec.output != "json":
                raise CatalogError(f"{where}: {{{{ schema }}}} is only defined for JSON outputs")
        elif not name.startswith(OUTPUT_PREFIX) and name not in EPISODE_VARIABLES:
            known = ", ".join(sorted([*EPISODE_VARIABLES, "schema", "outputs.<prompt id>"]))
            raise CatalogError(f"{where}: unknown variable {{{{ {name} }}}}; known: {known}")


@dataclass(frozen=True)
class Catalog:
    """Every prompt by id (enabled or not), with dependencies checked."""

    prompts: Mapping[str, PromptSpec]
    sources: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for spec in self.enabled():
            for dep in spec.depends_on:
                if dep == spec.id:
                    raise CatalogError(f"{spec.source}: prompt {spec.id!r} uses its own output")
                if dep not in self.prompts:
                    raise CatalogError(
                        f"{spec.source}: {{{{ outputs.{dep} }}}} names no prompt in the catalog"
                    )
                if not self.prompts[dep].enabled:
                    raise CatalogError(
                        f"{spec.source}: prompt {spec.id!r} needs {dep!r}, which is disabled"
                    )
        self.ordered()  # raises on a cycle

    def get(self, prompt_id: str) -> PromptSpec:
        try:
            return self.prompts[prompt_id]
        except KeyError:
            raise CatalogError(
                f"no prompt {prompt_id!r} in the catalog; known: {', '.join(sorted(self.prompts))}"
            ) from None

    def enabled(self) -> list[PromptSpec]:
        return [p for p in self.prompts.values() if p.enabled]

    def ordered(self) -> list[PromptSpec]:
        """Enabled prompts, every dependency before the prompts that use it (stable by id)."""
        done: list[str] = []
        visiting: list[str] = []

        def visit(prompt_id: str) -> None:
            if prompt_id in done:
                return
            if prompt_id in visiting:
                cycle = " -> ".join([*visiting[visiting.index(prompt_id) :], prompt_id])
                raise CatalogError(f"prompt dependencies form a cycle: {cycle}")
            visiting.append(prompt_id)
            for dep in self.prompts[prompt_id].depends_on:
                if dep in self.prompts:
                    visit(dep)
            visiting.pop()
            done.append(prompt_id)

        for spec in sorted(self.enabled(), key=lambda p: p.id):
            visit(spec.id)
        return [self.prompts[i] for i in done]


def build_catalog(
    files: Iterable[tuple[str, str]], overrides: Iterable[tuple[str, str]] = ()
) -> Catalog:
    """A catalog from (source, text) pairs; overrides replace defaults with the same id."""
    prompts: dict[str, PromptSpec] = {}
    sources: list[str] = []
    for layer in (files, overrides):
        seen: dict[str, str] = {}
        for source, text in layer:
            spec = parse_prompt(text, source)
            if spec.id in seen:
                raise CatalogError(
                    f"prompt id {spec.id!r} is defined twice: {seen[spec.id]}, {source}"
                )
            seen[spec.id] = source
            prompts[spec.id] = spec
            sources.append(source)
    if not prompts:
        raise CatalogError("the prompt catalog is empty")
    return Catalog(prompts=dict(sorted(prompts.items())), sources=tuple(sources))


def default_catalog_dir() -> Path:
    """The packaged default catalog: bundled in the wheel, or the repository's prompts/."""
    bundled = resources.files("podpipe_llm").joinpath("default_prompts")
    if bundled.is_dir():
        return Path(str(bundled))
    repo_prompts = Path(__file__).resolve().parents[4] / "prompts"
    if repo_prompts.is_dir():
        return repo_prompts
    raise CatalogError(
        "the default prompt catalog is missing: set PODPIPE_LLM_PROMPTS_DIR to a prompts/ directory"
    )


def read_directory(directory: Path) -> list[tuple[str, str]]:
    if not directory.is_dir():
        raise CatalogError(f"prompt directory {directory} does not exist")
    return [(str(path), path.read_text("utf-8")) for path in sorted(directory.glob("*.md"))]


def read_s3_overrides(s3: S3Client, bucket: str) -> list[tuple[str, str]]:
    files: list[tuple[str, str]] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=PROMPTS_PREFIX):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith(".md") and "/" not in key[len(PROMPTS_PREFIX) :]:
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
                files.append((f"s3://{bucket}/{key}", body))
    return files


def load_catalog(
    *, directory: Path | None = None, s3: S3Client | None = None, bucket: str | None = None
) -> Catalog:
    """Defaults (or ``directory``) overlaid with the bucket's ``prompts/`` files."""
    defaults = read_directory(directory or default_catalog_dir())
    overrides = read_s3_overrides(s3, bucket) if s3 is not None and bucket else []
    return build_catalog(defaults, overrides)


# --------------------------------------------------------------------------- variables


def hms(seconds: float) -> str:
    total = max(0, int(seconds))
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def speaker_name(speaker: str, metadata: EpisodeMetadata) -> str:
    return metadata.speaker_names.get(speaker, speaker)


def transcript_lines(transcript: Transcript, metadata: EpisodeMetadata) -> list[str]:
    """One line per segment: ``[hh:mm:ss] Speaker: text`` (what prompts and chunks read)."""
    return [
        f"[{hms(s.start)}] {speaker_name(s.speaker, metadata)}: {s.text.strip()}"
        for s in transcript.segments
        if s.text.strip()
    ]


def episode_variables(
    transcript: Transcript, metadata: EpisodeMetadata, *, transcript_text: str | None = None
) -> dict[str, str]:
    return {
        "transcript": transcript_text
        if transcript_text is not None
        else "\n".join(transcript_lines(transcript, metadata)),
        "title": metadata.title or transcript.episode_id,
        "show": metadata.show or "the show",
        "hosts": ", ".join(metadata.hosts) or "not named",
        "guests": ", ".join(metadata.guests) or "none named",
        "duration": hms(transcript.duration_seconds),
        "duration_seconds": str(round(transcript.duration_seconds)),
        "language": transcript.language,
        "episode_id": transcript.episode_id,
    }


def render(spec: PromptSpec, variables: Mapping[str, str]) -> str:
    """Fill the template; every variable was checked at load time, so a gap is a bug."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "schema" and spec.output_schema is not None:
            return SCHEMAS[spec.output_schema].json_schema()
        if name not in variables:
            raise CatalogError(f"prompt {spec.id!r}: no value for {{{{ {name} }}}}")
        return variables[name]

    return _PLACEHOLDER.sub(fill, spec.template)
