"""The offline stand-in: every catalog output written from the transcript itself, no LLM.

No usable local LLM exists on podpipe's offline machines, so ``make demo`` and CI need
something that produces the same artifacts, structurally valid for each prompt (Markdown
sections; JSON that passes the prompt's schema), without pretending to be a writer: every
output says plainly that it was produced without an LLM. It reads the transcript from the
task (not the rendered prompt), so it is never limited by a context window.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from podpipe.documents import ClipPick, ClipPicks
from podpipe_llm import extract
from podpipe_llm.catalog import hms, speaker_name
from podpipe_llm.prep.extractive import prep_item, prep_ranking
from podpipe_llm.providers.base import (
    Completion,
    CompletionRequest,
    PromptTask,
    RefusedError,
    estimate_tokens,
)
from podpipe_llm.schemas import BLUESKY_LIMIT, X_LIMIT, Chapter, Chapters, PullQuote, PullQuotes

EXTRACTIVE_MODEL = "extractive"
DISCLAIMER = (
    "Produced without an LLM by podpipe's extractive stand-in: the sentences and phrases "
    "below are taken from the transcript as spoken. Configure Amazon Bedrock or an "
    "OpenAI-compatible model for written copy."
)
SHORT_DISCLAIMER = "(auto-draft from the transcript, no LLM)"


class ExtractiveProvider:
    name = "extractive"
    rate_limited = False
    needs_context_budget = False

    def complete(self, request: CompletionRequest) -> Completion:
        task = request.task
        if task.stage == "map":
            text = _notes(task)
        else:
            writer = _WRITERS.get(task.schema_name or task.prompt_id)
            if writer is None:
                writer = _generic_json if task.output_format == "json" else _generic_markdown
            text = writer(task)
        prompt = "".join(m.text for m in request.messages)
        return Completion(
            text=text,
            input_tokens=estimate_tokens(prompt),
            output_tokens=estimate_tokens(text),
        )


class _Episode:
    """The analysis every writer shares, computed once per call."""

    def __init__(self, task: PromptTask) -> None:
        self.task = task
        self.transcript = task.transcript
        self.sentences = extract.sentences(task.transcript)
        self.full_text = " ".join(s.text for s in self.sentences)
        self.scorer = extract.Scorer([s.text for s in self.sentences])
        self.title = task.metadata.title or task.transcript.episode_id
        self.show = task.metadata.show or "the show"

    def key(self, count: int, *, max_chars: int = 400) -> list[extract.Sentence]:
        return extract.key_sentences(self.sentences, count, scorer=self.scorer, max_chars=max_chars)

    def phrases(self, count: int) -> list[str]:
        return extract.key_phrases(self.full_text, count)

    def speaker(self, raw: str) -> str:
        return speaker_name(raw, self.task.metadata)

    def chapters(self) -> Chapters:
        supplied = self.task.variables.get("outputs.chapters", "")
        if supplied.strip().startswith("{"):
            try:
                return Chapters.model_validate_json(supplied)
            except ValueError:
                pass
        sections = extract.chapter_sections(self.transcript)
        chapters: list[Chapter] = []
        used: set[str] = set()
        for number, section in enumerate(sections, 1):
            phrase = next((p for p in extract.key_phrases(section.text, 5) if p not in used), "")
            used.add(phrase)
            title = extract.titlecase(phrase) if phrase else f"Part {number}"
            if number == 1 and section.start == 0 and len(sections) > 1:
                title = f"Opening: {title}"
            chapters.append(Chapter(startTime=section.start, title=extract.shorten(title, 60)))
        if not chapters:
            chapters = [Chapter(startTime=0.0, title="Episode")]
        return Chapters(chapters=chapters, note=DISCLAIMER)


def _footer() -> str:
    return f"\n---\n_{DISCLAIMER}_\n"


def _titles(task: PromptTask) -> str:
    ep = _Episode(task)
    phrases = ep.phrases(8) or [ep.title]
    lines = ["# Title ideas", ""]
    for i in range(5):
        main = extract.titlecase(phrases[i % len(phrases)])
        second = extract.titlecase(phrases[(i + 1) % len(phrases)]) if len(phrases) > 1 else ""
        forms = [
            f"{main}",
            f"{main} and {second}" if second else f"On {main}",
            f"{ep.title}: {main}",
            f"Why {main} Matters",
            f"{main}, {second} and What Comes Next" if second else f"More on {main}",
        ]
        title = extract.shorten(forms[i], 70)
        lines.append(
            f"{i + 1}. **{title}** — built from the key phrase “{phrases[i % len(phrases)]}”."
        )
    return "\n".join(lines) + "\n" + _footer()


def _show_notes(task: PromptTask) -> str:
    ep = _Episode(task)
    summary = ep.key(5)
    urls, names = extract.urls_and_names(ep.full_text)
    known = {n.lower() for n in [*task.metadata.people, task.metadata.show]}
    names = [n for n in names if not any(n.lower() in k or k in n.lower() for k in known)]
    lines = ["# Show notes", "", "## Summary", ""]
    lines.append(" ".join(s.text for s in summary[:3]) or "(nothing was said)")
    if len(summary) > 3:
        lines += ["", " ".join(s.text for s in summary[3:])]
    lines += ["", "## Topics", ""]
    lines += [f"- [{hms(c.startTime)}] {c.title}" for c in ep.chapters().chapters]
    lines += ["", "## Links and resources mentioned", ""]
    mentioned = [*urls, *names]
    lines += [f"- {m}" for m in mentioned] if mentioned else ["None mentioned."]
    return "\n".join(lines) + "\n" + _footer()


def _chapters(task: PromptTask) -> str:
    return _Episode(task).chapters().model_dump_json(indent=2)


def _blog_post(task: PromptTask) -> str:
    ep = _Episode(task)
    chapters = ep.chapters().chapters
    bounds = [c.startTime for c in chapters[1:]] + [float("inf")]
    lines = [f"# {ep.title}", ""]
    lines.append(" ".join(s.text for s in ep.key(3)) or "(nothing was said)")
    for chapter, end in zip(chapters, bounds, strict=True):
        inside = [s for s in ep.sentences if chapter.startTime <= s.start < end]
        picked = extract.key_sentences(inside, 4, scorer=ep.scorer) if inside else []
        if not picked:
            continue
        lines += ["", f"## {chapter.title}", ""]
        lines.append(" ".join(s.text for s in picked))
    lines += ["", "## Takeaways", ""]
    lines += [f"- {extract.shorten(s.text, 200)}" for s in ep.key(4, max_chars=200)[:4]]
    lines += ["", f"Listen to the full episode of {ep.show}: “{ep.title}”."]
    return "\n".join(lines) + "\n" + _footer()


def _social_posts(task: PromptTask) -> str:
    ep = _Episode(task)
    best = ep.key(3, max_chars=220)
    hook = best[0].text if best else ep.title
    tags = " ".join("#" + p.replace(" ", "").title() for p in ep.phrases(3))
    x = extract.shorten(f"New episode: {ep.title} — “{hook}”", X_LIMIT - len(SHORT_DISCLAIMER) - 1)
    bluesky = extract.shorten(
        f"New on {ep.show}: {ep.title}. “{hook}”", BLUESKY_LIMIT - len(SHORT_DISCLAIMER) - 1
    )
    linkedin_parts = [
        f"New episode of {ep.show}: {ep.title}.",
        " ".join(s.text for s in best),
        "What would you add? Listen and tell us.",
        tags,
        SHORT_DISCLAIMER,
    ]
    return json.dumps(
        {
            "linkedin": extract.shorten("\n\n".join(p for p in linkedin_parts if p), 2900),
            "x": f"{x} {SHORT_DISCLAIMER}",
            "bluesky": f"{bluesky} {SHORT_DISCLAIMER}",
            "note": DISCLAIMER,
        },
        ensure_ascii=False,
        indent=2,
    )


def _clip_picks(task: PromptTask) -> str:
    ep = _Episode(task)
    windows = extract.clip_windows(ep.transcript, 3)
    if not windows:
        raise RefusedError(
            f"the episode lasts {ep.transcript.duration_seconds:.0f} s: no 30-90 s clip fits"
        )
    clips = []
    used: set[str] = set()
    for start, end, text in windows:
        inner = extract.Scorer([text])
        sentences = [s for s in ep.sentences if start <= s.start < end]
        best = max(sentences, key=lambda s: inner.score(s.text), default=None)
        phrase = next((p for p in extract.key_phrases(text, 6) if p not in used), "")
        used.add(phrase)
        # A lone word makes a poor title; the clip's own best line says more.
        if " " in phrase:
            title = extract.titlecase(phrase)
        else:
            title = (best.text if best else text).rstrip(".!?") or "Clip"
        clips.append(
            ClipPick(
                start=start,
                end=end,
                title=extract.shorten(title, 80),
                hook=extract.shorten(best.text if best else text, 200),
            )
        )
    return ClipPicks(clips=clips, note=DISCLAIMER).model_dump_json(indent=2)


def _newsletter(task: PromptTask) -> str:
    ep = _Episode(task)
    words: list[str] = []
    for sentence in ep.key(8):
        if len(words) + len(sentence.text.split()) > 190:
            break
        words += sentence.text.split()
    body = " ".join(words) or ep.title
    subject = extract.shorten(f"New episode: {ep.title}", 60)
    return f"**Subject:** {subject}\n\n{body}\n" + _footer()


def _pull_quotes(task: PromptTask) -> str:
    ep = _Episode(task)
    quotes = [
        PullQuote(
            text=extract.shorten(s.text, 240),
            speaker=ep.speaker(s.speaker),
            start=ep.transcript.segments[s.segment].start,
        )
        for s in ep.key(5, max_chars=240)
    ]
    if not quotes:
        raise RefusedError("the transcript has no sentence to quote")
    return PullQuotes(quotes=quotes, note=DISCLAIMER).model_dump_json(indent=2)


def _generic_markdown(task: PromptTask) -> str:
    ep = _Episode(task)
    lines = [f"# {task.prompt_id.replace('-', ' ').title()}", ""]
    lines += [f"- [{hms(s.start)}] {s.text}" for s in ep.key(8)]
    return "\n".join(lines) + "\n" + _footer()


def _generic_json(task: PromptTask) -> str:
    raise RefusedError(
        f"the extractive provider cannot write JSON schema {task.schema_name!r}; "
        "configure an LLM for this prompt"
    )


def _notes(task: PromptTask) -> str:
    """Map step: the chunk's most salient lines, with timestamps and speakers."""
    ep = _Episode(task)
    count = max(3, len(ep.sentences) // 5)
    return "\n".join(f"[{hms(s.start)}] {ep.speaker(s.speaker)}: {s.text}" for s in ep.key(count))


_WRITERS: dict[str, Callable[[PromptTask], str]] = {
    "titles": _titles,
    "show-notes": _show_notes,
    "chapters": _chapters,
    "blog-post": _blog_post,
    "social-posts": _social_posts,
    "clip-picks": _clip_picks,
    "newsletter": _newsletter,
    "pull-quotes": _pull_quotes,
    "prep-item": prep_item,
    "prep-ranking": prep_ranking,
}
