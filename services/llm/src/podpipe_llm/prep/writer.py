"""The LLM side of prep: rank the week's items for the audience, then write each one up.

Every call goes through :class:`~podpipe_llm.runner.PromptRunner` — the same rate limiter,
backoff, JSON validation and feedback loop as the episode prompts — with its own budget
(:class:`~podpipe_llm.prep.settings.PrepSettings`), so a prep run never eats the quota the
llm worker paces episodes to. An article is handed to the runner as a one-speaker
"transcript" (one segment per paragraph), which is what the extractive stand-in reads too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import frontmatter
import yaml
from pydantic import ValidationError

from podpipe.documents import Segment, Transcript
from podpipe.layout import MAX_TITLE_CHARS, EpisodeMetadata
from podpipe_llm import extract
from podpipe_llm.catalog import PromptSpec
from podpipe_llm.prep.articles import Article
from podpipe_llm.prep.models import ItemAnswer, RankingAnswer
from podpipe_llm.runner import PromptRunner

ARTICLE_SPEAKER = "Article"
PREP_SYSTEM = (
    "You are the researcher of a weekly podcast about cloud news. You prepare the hosts and "
    "their guest. You write only from the material you are given, never invent facts, "
    "numbers, names or links, and answer with JSON only."
)
ITEM_TEMPLATE = """Prepare this article for an episode of "{{ show }}".
The audience: {{ audience }}

Write, as JSON matching the schema below:
- "summary": exactly 3 plain sentences on what was announced (facts from the article only);
- "why_it_matters": one or two sentences on why it matters to this audience;
- "questions": two different questions the guest might ask about it, each ending with "?".

Article title: {{ title }}
Article text:
{{ transcript }}

JSON Schema of the answer:
{{ schema }}
"""
RANKING_TEMPLATE = """These are this week's candidate news items for "{{ show }}".
The audience: {{ audience }}

Rank them from the most to the least worth discussing for this audience. Answer with JSON
{"order": [numbers]}, using each candidate's number once, best first.

Candidates:
{{ transcript }}

JSON Schema of the answer:
{{ schema }}
"""
ITEM_SPEC = PromptSpec.model_validate(
    {
        "id": "prep-item",
        "description": "a 3-sentence summary, why it matters and two guest questions",
        "output": "json",
        "schema": "prep-item",
        "max_output_tokens": 500,
        "temperature": 0.3,
        "system": PREP_SYSTEM,
        "template": ITEM_TEMPLATE,
        "source": "podpipe_llm.prep.writer",
    }
)
RANKING_SPEC = PromptSpec.model_validate(
    {
        "id": "prep-ranking",
        "description": "the week's items ranked for the show's audience",
        "output": "json",
        "schema": "prep-ranking",
        "max_output_tokens": 300,
        "temperature": 0.1,
        "system": PREP_SYSTEM,
        "template": RANKING_TEMPLATE,
        "source": "podpipe_llm.prep.writer",
    }
)
CANDIDATE_CHARS = 280
PREP_PROMPTS_PREFIX = "prep/prompts/"
DEFAULT_SPECS = {ITEM_SPEC.id: ITEM_SPEC, RANKING_SPEC.id: RANKING_SPEC}
PREP_VARIABLES = frozenset({"transcript", "title", "show", "audience", "schema"})


class PrepPromptError(ValueError):
    """A team's prompt override under prep/prompts/ that cannot be used (names the problem)."""


def with_overrides(overrides: Mapping[str, str]) -> dict[str, PromptSpec]:
    """The packaged prep prompts, each replaced by ``prep/prompts/<id>.md`` where the team put
    one (front matter over the defaults, the body as the template) — edited without a
    redeploy, like the episode prompts under ``prompts/``. The output schema stays fixed: the
    brief is built from it."""
    specs = dict(DEFAULT_SPECS)
    for key, text in overrides.items():
        prompt_id = key.removeprefix(PREP_PROMPTS_PREFIX).removesuffix(".md")
        default = DEFAULT_SPECS.get(prompt_id)
        if default is None:
            raise PrepPromptError(
                f"{key}: no prep prompt is called {prompt_id!r}; known: {sorted(DEFAULT_SPECS)}"
            )
        try:
            post = frontmatter.loads(text)
        except yaml.YAMLError as exc:
            raise PrepPromptError(f"{key}: front matter is not valid YAML: {exc}") from None
        fixed = {"id", "output", "schema", "source", "template"}
        values = {
            **default.model_dump(by_alias=True),
            **{k: v for k, v in post.metadata.items() if k not in fixed},
        }
        try:
            spec = PromptSpec.model_validate(
                {**values, "template": post.content.strip() + "\n", "source": key}
            )
        except ValidationError as exc:
            raise PrepPromptError(
                f"{key}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}"
            ) from None
        unknown = [v for v in spec.variables if v not in PREP_VARIABLES]
        if unknown or "transcript" not in spec.variables:
            raise PrepPromptError(
                f"{key}: the template must place {{{{ transcript }}}} and may use only "
                f"{sorted(PREP_VARIABLES)}; unknown: {unknown}"
            )
        specs[prompt_id] = spec
    return specs


class BriefWriter(Protocol):
    """The port the brief is written through (the runner-backed one, or a fake in tests)."""

    def rank(self, articles: Sequence[Article], *, audience: str, show: str) -> list[int]:
        """Indexes into ``articles``, best first (every index once)."""
        ...

    def write(self, article: Article, *, audience: str, show: str) -> ItemAnswer: ...


def article_transcript(article: Article) -> Transcript:
    paragraphs = [p.strip() for p in article.text.split("\n") if p.strip()]
    return _as_transcript(paragraphs)


def candidates_transcript(articles: Sequence[Article]) -> Transcript:
    lines = [
        f"{n}. {a.item.title} — {extract.shorten(a.text, CANDIDATE_CHARS)}"
        for n, a in enumerate(articles, 1)
    ]
    return _as_transcript(lines)


def _as_transcript(lines: Sequence[str]) -> Transcript:
    return Transcript(
        episode_id="prep",
        language="en",
        duration_seconds=float(len(lines)),
        backend="prep",
        segments=[
            Segment(start=float(i), end=float(i + 1), speaker=ARTICLE_SPEAKER, text=line)
            for i, line in enumerate(lines)
        ],
    )


class RunnerBriefWriter:
    def __init__(
        self,
        runner: PromptRunner,
        *,
        model: str = "default",
        specs: Mapping[str, PromptSpec] | None = None,
    ) -> None:
        self._runner = runner
        self._model = model
        self._specs = dict(specs or DEFAULT_SPECS)

    @property
    def model(self) -> str:
        return self._runner.providers.resolve(self._model)

    def rank(self, articles: Sequence[Article], *, audience: str, show: str) -> list[int]:
        transcript = candidates_transcript(articles)
        result = self._runner.run(
            self._specs[RANKING_SPEC.id],
            model=self._model,
            transcript=transcript,
            metadata=EpisodeMetadata(show=show[:100]),
            extra_variables={
                "audience": audience,
                "transcript": "\n".join(s.text for s in transcript.segments),
            },
        )
        order = [n - 1 for n in RankingAnswer.model_validate_json(result.text).order]
        # Whatever the model left out keeps its feed order after the ranked ones.
        return order + [i for i in range(len(articles)) if i not in order]

    def write(self, article: Article, *, audience: str, show: str) -> ItemAnswer:
        result = self._runner.run(
            self._specs[ITEM_SPEC.id],
            model=self._model,
            transcript=article_transcript(article),
            metadata=EpisodeMetadata(
                title=extract.shorten(article.item.title, MAX_TITLE_CHARS), show=show[:100]
            ),
            extra_variables={"audience": audience, "transcript": article.text},
        )
        return ItemAnswer.model_validate_json(result.text)
