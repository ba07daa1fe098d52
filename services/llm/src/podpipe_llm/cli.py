"""`podpipe prompts …`: list the catalog, try a prompt on a transcript, compare and evaluate models.

Contributed to the root CLI through the ``podpipe.cli`` entry point. `test` and `compare` run
a prompt outside the pipeline (no queue, nothing written unless asked): the cheap way to
iterate on a prompt or pick a model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from pydantic import ValidationError
from rich.columns import Columns
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from podpipe.documents import Transcript
from podpipe.layout import InvalidEpisodeKeyError, validate_episode_id
from podpipe_cli.context import fail, friendly_errors
from podpipe_llm.catalog import Catalog, CatalogError, PromptSpec
from podpipe_llm.providers.base import ProviderError
from podpipe_llm.runner import InvalidOutputError, PromptRunner, RunResult
from podpipe_llm.service import build_providers, build_runner
from podpipe_llm.settings import LlmSettings
from podpipe_llm.store import S3CatalogSource, S3EpisodeStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

prompts_app = typer.Typer(
    help="The prompt catalog: list it, test a prompt on an episode, compare models.",
    no_args_is_help=True,
)
_err = Console(stderr=True)
LocalOnly = Annotated[bool, typer.Option("--local", help="Ignore the bucket's prompts/ overrides.")]
TranscriptFile = Annotated[
    Path | None,
    typer.Option("--transcript", help="A local transcript.json instead of the stored one."),
]


def _fail(message: str, code: int = 1, *, json_output: bool = False) -> NoReturn:
    """The CLI's one way to fail: a red line on stderr and, for ``--json``, the one JSON
    document ``{"error", "exit_code"}`` on stdout (podpipe_cli.context.fail)."""
    fail(message, code, json_output=json_output)


def _clear_errors(*, json_output: bool = False) -> AbstractContextManager[None]:
    """The errors a host meets as one line (for ``--json``, also one JSON document): the
    CLI's friendly_errors, asking this plugin's own mapping first."""
    return friendly_errors(json_output=json_output, explain=_explain)


def _explain(exc: Exception) -> tuple[str, int] | None:
    """The message and exit code for a known error; None for a bug."""
    if isinstance(exc, CatalogError | InvalidEpisodeKeyError):
        return str(exc), 2
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"PODPIPE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        return f"invalid configuration: {problems}", 2
    if isinstance(exc, ProviderError | InvalidOutputError):
        return str(exc), 1
    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID/…)", 1
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"AWS refused: {error.get('Code')}: {error.get('Message', '')}", 1
    if isinstance(exc, BotoCoreError):
        return f"cannot reach AWS: {exc}", 1
    return None


class _Context:
    def __init__(self, *, local_only: bool = False) -> None:
        self.settings = LlmSettings()
        self._s3: S3Client | None = None
        self.local_only = local_only
        self.eval_port = 8932

    @property
    def s3(self) -> S3Client:
        if self._s3 is None:
            import boto3

            self._s3 = boto3.client("s3", region_name=self.settings.region)
        return self._s3

    def catalog(self) -> Catalog:
        s3 = None if self.local_only else self.s3
        return S3CatalogSource(s3, self.settings.bucket, self.settings.llm_prompts_dir).load()

    def runner(self) -> PromptRunner:
        return build_runner(self.settings, build_providers(self.settings))

    def episode(self, episode_id: str, transcript_file: Path | None) -> tuple[Transcript, Any]:
        store = S3EpisodeStore(self.s3, self.settings.bucket)
        if transcript_file is not None:
            try:
                transcript = Transcript.model_validate_json(transcript_file.read_text("utf-8"))
            except (OSError, ValidationError) as exc:
                _fail(f"{transcript_file} is not a readable podpipe transcript.json: {exc}", 2)
            from podpipe.layout import EpisodeMetadata

            return transcript, EpisodeMetadata()
        validate_episode_id(episode_id)
        transcript_or_none = store.read_transcript(episode_id)
        if transcript_or_none is None:
            _fail(
                f"episode {episode_id!r} has no transcript in s3://{self.settings.bucket}/"
                f"episodes/{episode_id}/transcript.json"
            )
        return transcript_or_none, store.read_metadata(episode_id)

    def dependencies(self, episode_id: str, catalog: Catalog, spec: PromptSpec) -> dict[str, str]:
        store = S3EpisodeStore(self.s3, self.settings.bucket)
        outputs: dict[str, str] = {}
        for dep in spec.depends_on:
            text = store.read_output(episode_id, dep, catalog.get(dep).extension)
            outputs[dep] = text if text is not None else f"(no {dep} output stored yet)"
        return outputs


def _run(
    ctx: _Context,
    catalog: Catalog,
    prompt_id: str,
    episode: str,
    model: str | None,
    transcript_file: Path | None,
) -> RunResult:
    spec = catalog.get(prompt_id)
    transcript, metadata = ctx.episode(episode, transcript_file)
    deps = {} if transcript_file else ctx.dependencies(episode, catalog, spec)
    return ctx.runner().run(
        spec,
        model=model or spec.model,
        transcript=transcript,
        metadata=metadata,
        dependency_outputs=deps,
    )


def _stats_line(result: RunResult) -> str:
    s = result.stats
    return (
        f"model {result.model} · {s.input_tokens} in / {s.output_tokens} out tokens · "
        f"{result.latency_seconds:.1f} s · {s.attempts} attempt(s)"
        + (f" · {s.map_calls} map call(s)" if s.map_calls else "")
        + f" · ≈ ${result.cost_usd:.4f}"
    )


@prompts_app.command("list")
def list_command(
    local: bool = typer.Option(False, "--local", help="Ignore the bucket's prompts/ overrides."),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table."),
) -> None:
    """List the catalog: id, output, model, dependencies, where each prompt comes from."""
    with _clear_errors(json_output=as_json):
        ctx = _Context(local_only=local)
        catalog = ctx.catalog()
        providers = build_providers(ctx.settings, bedrock_client=object())
        rows: list[dict[str, Any]] = []
        for spec in catalog.prompts.values():
            try:
                model = providers.resolve(spec.model)
            except ProviderError as exc:
                model = f"(unresolved: {exc})"
            rows.append(
                {
                    "id": spec.id,
                    "enabled": spec.enabled,
                    "output": spec.output
                    + (f" ({spec.output_schema})" if spec.output_schema else ""),
                    "model": model,
                    "max_output_tokens": spec.max_output_tokens,
                    "depends_on": spec.depends_on,
                    "source": spec.source,
                    "description": spec.description,
                }
            )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{len(rows)} prompts (provider: {ctx.settings.provider()})")
    for column in ("id", "on", "output", "model", "uses", "description"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["id"],
            "yes" if row["enabled"] else "no",
            row["output"],
            row["model"],
            ", ".join(row["depends_on"]) or "-",
            row["description"],
        )
    Console().print(table)


@prompts_app.command("test")
def try_prompt_command(
    prompt: str = typer.Argument(..., help="Prompt id from the catalog."),
    episode: str = typer.Option(..., "--episode", "-e", help="Episode whose transcript to use."),
    model: str | None = typer.Option(None, "--model", "-m", help="Override the catalog model."),
    transcript_file: TranscriptFile = None,
    local: LocalOnly = False,
) -> None:
    """Run one prompt on a stored transcript and print the result (nothing is written)."""
    with _clear_errors():
        ctx = _Context(local_only=local)
        result = _run(ctx, ctx.catalog(), prompt, episode, model, transcript_file)
    typer.echo(result.text)
    _err.print(_stats_line(result), highlight=False)


@prompts_app.command("compare")
def compare_command(
    prompt: str = typer.Argument(..., help="Prompt id from the catalog."),
    episode: str = typer.Option(..., "--episode", "-e"),
    models: str = typer.Option(..., "--models", help="Comma-separated models to compare."),
    transcript_file: TranscriptFile = None,
    local: LocalOnly = False,
    width: int = typer.Option(60, help="Characters per column."),
) -> None:
    """Run one prompt with several models and show the answers side by side."""
    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        _fail("--models needs at least one model", 2)
    panels = []
    table = Table(title=f"{prompt} on {episode}")
    for column in ("model", "tokens in", "tokens out", "latency s", "attempts", "cost $", "status"):
        table.add_column(column)
    with _clear_errors():
        ctx = _Context(local_only=local)
        catalog = ctx.catalog()
        catalog.get(prompt)
        for name in names:
            try:
                result = _run(ctx, catalog, prompt, episode, name, transcript_file)
            except (ProviderError, InvalidOutputError) as exc:
                table.add_row(name, "-", "-", "-", "-", "-", f"failed: {exc}")
                panels.append(Panel(f"failed: {exc}", title=name, width=width))
                continue
            s = result.stats
            table.add_row(
                result.model,
                str(s.input_tokens),
                str(s.output_tokens),
                f"{result.latency_seconds:.1f}",
                str(s.attempts),
                f"{result.cost_usd:.4f}",
                "ok",
            )
            panels.append(Panel(result.text, title=result.model, width=width))
    console = Console()
    console.print(Columns(panels, equal=True))
    console.print(table)


LOCAL_PREFIX = "local:"


@contextmanager
def _model_runner(
    ctx: _Context, name: str, max_output_tokens: int | None, json_schema: bool
) -> Iterator[tuple[PromptRunner, str]]:
    """(runner, model string) for one eval model; ``local:<model>`` runs the local llama.cpp
    server for the packaged model (or GGUF path) while that model is evaluated."""
    from podpipe_local.llm import LOCAL_MAX_OUTPUT_TOKENS, LocalLlmServer, model_alias
    from podpipe_local.supervisor import StateDir

    updates: dict[str, Any] = {"llm_openai_json_schema": json_schema}
    if max_output_tokens is not None:
        updates["llm_max_output_tokens"] = max_output_tokens
    if not name.startswith(LOCAL_PREFIX):
        settings = ctx.settings.model_copy(update=updates)
        yield build_runner(settings, build_providers(settings)), name
        return
    model = name[len(LOCAL_PREFIX) :]
    server = LocalLlmServer(StateDir(Path(".podpipe") / "eval"), port=ctx.eval_port)
    started = server.start(model)
    try:
        updates.setdefault("llm_max_output_tokens", LOCAL_MAX_OUTPUT_TOKENS)
        settings = ctx.settings.model_copy(
            update={
                **updates,
                "llm_openai_base_url": server.base_url,
                "llm_requests_per_minute": 0.0,
                "llm_tokens_per_minute": 0.0,
            }
        )
        yield build_runner(settings, build_providers(settings)), f"openai:{model_alias(model)}"
    finally:
        if started:
            server.stop()


@prompts_app.command("eval")
def eval_command(
    models: str = typer.Option(
        ...,
        "--models",
        help="Comma-separated models: bedrock:<id>, openai:<name>, extractive, or "
        "local:<packaged model or .gguf> to run it on the local llama.cpp server.",
    ),
    eval_set: Annotated[
        list[Path] | None,
        typer.Option("--set", help="Folder or file(s) of <name>.transcript.json (e.g. samples/)."),
    ] = None,
    episodes: Annotated[
        list[str] | None, typer.Option("--episode", "-e", help="Stored episode(s) to include.")
    ] = None,
    prompt: str | None = typer.Option(None, "--prompt", "-p", help="One prompt (default: all)."),
    out: Annotated[
        Path, typer.Option("--out", help="Folder for report.md, report.html, results.json.")
    ] = Path("eval-report"),
    min_score: float = typer.Option(
        0.0, "--min-score", help="Exit 1 if a gated model's mean score is below this (0-1)."
    ),
    gate: Annotated[
        list[str] | None, typer.Option("--gate", help="Model(s) the threshold applies to.")
    ] = None,
    max_output_tokens: int | None = typer.Option(
        None, "--max-output-tokens", help="Cap every answer (local models default to 700)."
    ),
    json_schema: bool = typer.Option(
        True, "--json-schema/--no-json-schema", help="Constrained decoding for JSON prompts."
    ),
    local: LocalOnly = False,
    port: int = typer.Option(8932, "--port", help="Port of the local server while evaluating."),
) -> None:
    """Score one prompt or the whole catalog over an eval set, side by side per model."""
    from podpipe_llm.evalreport import prompts_to_run, run_model, write_report
    from podpipe_llm.evaluate import EvalEpisode, check_failures, load_eval_set, summarise

    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        _fail("--models needs at least one model", 2)
    with _clear_errors():
        ctx = _Context(local_only=local)
        ctx.eval_port = port
        catalog = ctx.catalog()
        specs, scored = prompts_to_run(catalog, prompt)
        try:
            chosen = load_eval_set(eval_set or [])
        except (OSError, ValueError) as exc:
            _fail(f"cannot read the eval set: {exc}", 2)
        for episode_id in episodes or []:
            transcript, metadata = ctx.episode(episode_id, None)
            chosen.append(EvalEpisode(episode_id, transcript, metadata))
        if not chosen:
            _fail("nothing to evaluate: give --set samples/ and/or --episode EP", 2)
        rows = []

        def progress(row: Any) -> None:
            state = f"failed: {row.error[:80]}" if row.error else f"score {row.score:.2f}"
            _err.print(
                f"{row.model:<40} {row.episode_id:<14} {row.prompt_id:<13} {state} "
                f"({row.output_tokens} tokens, {row.latency_seconds:.1f} s)",
                highlight=False,
            )

        for name in names:
            with _model_runner(ctx, name, max_output_tokens, json_schema) as (runner, model):
                label = name if name.startswith(LOCAL_PREFIX) else model
                rows += run_model(runner, model, label, specs, scored, chosen, progress)
    title = f"podpipe prompt evaluation: {len(chosen)} episode(s), {len(names)} model(s)"
    for path in write_report(rows, out, title):
        typer.echo(str(path))
    summaries = summarise(rows)
    gated = [s for s in summaries if not gate or s.model in gate]
    problems = check_failures(gated, min_score)
    for s in summaries:
        typer.echo(f"{s.model:<40} mean score {s.score:.2f} over {len(s.rows)} answers")
    if problems:
        for problem in problems:
            _err.print(f"[red]below threshold:[/red] {problem}", highlight=False)
        raise typer.Exit(1)
