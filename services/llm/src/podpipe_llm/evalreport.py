"""`podpipe prompts eval`: run prompts over an eval set with several models, score, report.

Each model answers every chosen prompt of every episode in catalog order, its own earlier
answers feeding the prompts that depend on them (blog-post reads that model's chapters).
The report puts the models side by side: a summary per model (mean score, share of answers
passing every check, valid JSON on the first try, tokens, cached tokens, latency, cost), a
score table per prompt and episode, and every answer with its checks. Markdown for a pull
request, a self-contained HTML page for reading, JSON for tools.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from podpipe_llm.catalog import Catalog, PromptSpec
from podpipe_llm.evaluate import EvalEpisode, EvalRow, ModelSummary, score_answer, summarise
from podpipe_llm.providers.base import ProviderError
from podpipe_llm.runner import InvalidOutputError, PromptRunner
from podpipe_llm.worker import missing_dependency_text

Progress = Callable[[EvalRow], None]


def prompts_to_run(catalog: Catalog, prompt_id: str | None) -> tuple[list[PromptSpec], set[str]]:
    """(specs in dependency order, ids to score): one prompt brings its dependencies along."""
    ordered = catalog.ordered()
    if prompt_id is None:
        return ordered, {s.id for s in ordered}
    wanted = {prompt_id}
    pending = [prompt_id]
    while pending:
        for dep in catalog.get(pending.pop()).depends_on:
            if dep not in wanted:
                wanted.add(dep)
                pending.append(dep)
    return [s for s in ordered if s.id in wanted], {prompt_id}


def run_model(
    runner: PromptRunner,
    model: str,
    label: str,
    specs: Sequence[PromptSpec],
    scored: set[str],
    episodes: Sequence[EvalEpisode],
    progress: Progress | None = None,
) -> list[EvalRow]:
    rows: list[EvalRow] = []
    for episode in episodes:
        answers: dict[str, str] = {}
        failed: list[str] = []
        for spec in specs:
            missing = tuple(d for d in spec.depends_on if d not in answers)
            deps = {d: answers[d] for d in spec.depends_on if d in answers}
            deps.update({d: missing_dependency_text(d, "that prompt failed") for d in missing})
            try:
                result = runner.run(
                    spec,
                    model=model,
                    transcript=episode.transcript,
                    metadata=episode.metadata,
                    dependency_outputs=deps,
                    missing_dependencies=missing,
                )
            except (ProviderError, InvalidOutputError) as exc:
                failed.append(spec.id)
                row = EvalRow(
                    episode.episode_id, spec.id, label, "", None, error=str(exc), output=spec.output
                )
            else:
                answers[spec.id] = result.text
                s = result.stats
                row = EvalRow(
                    episode.episode_id,
                    spec.id,
                    label,
                    result.text,
                    score_answer(spec, result.text, episode),
                    input_tokens=s.input_tokens,
                    cached_input_tokens=s.cached_input_tokens,
                    output_tokens=s.output_tokens,
                    latency_seconds=result.latency_seconds,
                    cost_usd=result.cost_usd,
                    answers=s.answers,
                    output=spec.output,
                )
            if spec.id in scored:
                rows.append(row)
                if progress is not None:
                    progress(row)
    return rows


# --------------------------------------------------------------------------- rendering


def _summary_rows(summaries: Sequence[ModelSummary]) -> list[list[str]]:
    rows = []
    for s in summaries:
        first_try = s.valid_json_first_try
        rows.append(
            [
                s.model,
                f"{s.score:.2f}",
                f"{s.all_checks_pass:.0%}",
                "-" if first_try is None else f"{first_try:.0%}",
                f"{s.failed:.0%}",
                f"{s.total('input_tokens'):.0f}",
                f"{s.total('cached_input_tokens'):.0f}",
                f"{s.total('output_tokens'):.0f}",
                f"{s.total('latency_seconds'):.0f}",
                f"{s.total('cost_usd'):.4f}",
            ]
        )
    return rows


SUMMARY_HEADER = [
    "model",
    "mean score",
    "all checks pass",
    "valid JSON 1st try",
    "failed",
    "prompt tokens",
    "cached",
    "output tokens",
    "seconds",
    "cost $",
]


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    return "\n".join([line(header), line(["---"] * len(header)), *map(line, rows)])


def _grid(rows: Sequence[EvalRow], models: list[str]) -> tuple[list[str], list[list[str]]]:
    keys = list(dict.fromkeys((r.episode_id, r.prompt_id) for r in rows))
    cell = {(r.episode_id, r.prompt_id, r.model): r for r in rows}
    table = []
    for episode_id, prompt_id in keys:
        line = [episode_id, prompt_id]
        for model in models:
            row = cell.get((episode_id, prompt_id, model))
            line.append(
                "-"
                if row is None
                else ("failed" if row.error else f"{row.score:.2f}" + _failed_checks(row))
            )
        table.append(line)
    return ["episode", "prompt", *models], table


def _failed_checks(row: EvalRow) -> str:
    if row.scorecard is None:
        return ""
    failed = [c.name for c in row.scorecard.checks if not c.passed]
    return f" ({', '.join(failed)})" if failed else ""


def markdown_report(rows: Sequence[EvalRow], title: str) -> str:
    summaries = summarise(rows)
    models = [s.model for s in summaries]
    header, grid = _grid(rows, models)
    parts = [
        f"# {title}",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `podpipe prompts eval`. Score: "
        "the mean of each answer's checks (structure, length, timestamps, grounding, echo, "
        "repetition), 0 to 1; a failed answer scores 0.",
        "## Models",
        _markdown_table(SUMMARY_HEADER, _summary_rows(summaries)),
        "## Scores per prompt (failed checks in brackets)",
        _markdown_table(header, grid),
        "## Answers",
    ]
    for row in rows:
        parts.append(f"### {row.episode_id} · {row.prompt_id} · {row.model}")
        if row.error:
            parts.append(f"Failed: {row.error}")
            continue
        assert row.scorecard is not None
        parts.append(
            "\n".join(
                f"- {'✅' if c.passed else '❌'} **{c.name}** {c.score:.2f}: {c.detail}"
                for c in row.scorecard.checks
            )
        )
        fence = "```json" if row.output == "json" else "```markdown"
        parts.append(f"{fence}\n{row.text.strip()}\n```")
    return "\n\n".join(parts) + "\n"


_CSS = """body{font:15px/1.45 system-ui,sans-serif;margin:2rem;color:#1d2330}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccd;padding:.3rem .6rem;
text-align:left;vertical-align:top}th{background:#eef1f7}.grid{display:grid;gap:1rem;
grid-template-columns:repeat(var(--n),minmax(0,1fr))}.answer{border:1px solid #ccd;
border-radius:6px;padding:.6rem}pre{white-space:pre-wrap;font-size:13px;background:#f7f8fb;
padding:.5rem}.ok{color:#19692c}.bad{color:#a31515}h3{margin-top:2rem}"""


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def html_report(rows: Sequence[EvalRow], title: str) -> str:
    """One page, no external assets; every answer escaped (model text is never markup)."""
    summaries = summarise(rows)
    models = [s.model for s in summaries]
    header, grid = _grid(rows, models)
    cell = {(r.episode_id, r.prompt_id, r.model): r for r in rows}
    sections = []
    for episode_id, prompt_id in dict.fromkeys((r.episode_id, r.prompt_id) for r in rows):
        answers = []
        for model in models:
            row = cell.get((episode_id, prompt_id, model))
            if row is None:
                continue
            if row.error:
                inner = f"<p class=bad>failed: {html.escape(row.error)}</p>"
            else:
                assert row.scorecard is not None
                checks = "".join(
                    f"<li class={'ok' if c.passed else 'bad'}>{html.escape(c.name)} "
                    f"{c.score:.2f}: {html.escape(c.detail)}</li>"
                    for c in row.scorecard.checks
                )
                inner = (
                    f"<p>score {row.score:.2f} · {row.output_tokens} tokens · "
                    f"{row.latency_seconds:.1f} s</p><ul>{checks}</ul>"
                    f"<pre>{html.escape(row.text.strip())}</pre>"
                )
            answers.append(f"<div class=answer><h4>{html.escape(model)}</h4>{inner}</div>")
        sections.append(
            f"<h3>{html.escape(episode_id)} · {html.escape(prompt_id)}</h3>"
            f"<div class=grid style='--n:{max(1, len(answers))}'>{''.join(answers)}</div>"
        )
    return (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style><h1>{html.escape(title)}</h1>"
        f"<h2>Models</h2>{_html_table(SUMMARY_HEADER, _summary_rows(summaries))}"
        f"<h2>Scores per prompt</h2>{_html_table(header, grid)}"
        f"<h2>Answers side by side</h2>{''.join(sections)}</html>\n"
    )


def results_json(rows: Sequence[EvalRow]) -> str:
    return json.dumps(
        {
            "models": [
                {
                    "model": s.model,
                    "mean_score": round(s.score, 4),
                    "answers": len(s.rows),
                    "all_checks_pass": round(s.all_checks_pass, 4),
                    "valid_json_first_try": (
                        None if s.valid_json_first_try is None else round(s.valid_json_first_try, 4)
                    ),
                    "prompt_tokens": s.total("input_tokens"),
                    "cached_prompt_tokens": s.total("cached_input_tokens"),
                    "output_tokens": s.total("output_tokens"),
                    "seconds": round(s.total("latency_seconds"), 1),
                    "cost_usd": round(s.total("cost_usd"), 6),
                }
                for s in summarise(rows)
            ],
            "answers": [
                {
                    **{k: v for k, v in asdict(r).items() if k != "scorecard"},
                    "score": r.score,
                    "checks": [asdict(c) for c in r.scorecard.checks] if r.scorecard else [],
                }
                for r in rows
            ],
        },
        indent=2,
    )


def write_report(rows: Sequence[EvalRow], out_dir: Path, title: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "report.md": markdown_report(rows, title),
        "report.html": html_report(rows, title),
        "results.json": results_json(rows),
    }
    written = []
    for name, text in files.items():
        (out_dir / name).write_text(text, "utf-8")
        written.append(out_dir / name)
    return written
