"""The extractive stand-in's prep writers: the brief from the articles' own sentences.

Deterministic and offline like the rest of the extractive provider: the summary is the
article's three most salient sentences (in article order; each one sentence to the check), "why it matters" its sentence
closest to the audience description, and the two questions are built from its key phrases
— every part is marked as a draft made without an LLM.
"""

from __future__ import annotations

import json

from podpipe_llm import extract
from podpipe_llm.providers.base import PromptTask
from podpipe_llm.schemas import PREP_SUMMARY_SENTENCES, summary_sentences

DRAFT = "(auto-draft, no LLM)"


def _audience_words(task: PromptTask) -> set[str]:
    return set(extract.content_words(task.variables.get("audience", "")))


def prep_item(task: PromptTask) -> str:
    sentences = extract.sentences(task.transcript)
    scorer = extract.Scorer([s.text for s in sentences])
    # Only sentences that the summary check counts as one (a sentence ending in a quote or an
    # ellipsis runs into the next for it): else the draft could be refused.
    whole = [s for s in sentences if len(summary_sentences(s.text)) == 1 and s.text[-1:] in ".!?"]
    summary = extract.key_sentences(whole, PREP_SUMMARY_SENTENCES, scorer=scorer)
    chosen = {s.text for s in summary}
    audience = _audience_words(task)
    rest = [s for s in sentences if s.text not in chosen] or sentences
    why = max(
        rest,
        key=lambda s: (len(audience & set(extract.content_words(s.text))), scorer.score(s.text)),
    )
    full_text = " ".join(s.text for s in sentences)
    # Multi-word phrases name things ("prompt caching"); single words rarely do.
    phrases = [p for p in extract.key_phrases(full_text, 8) if " " in p]
    subject = task.metadata.title or "this launch"
    first = phrases[0] if phrases else subject
    second = phrases[1] if len(phrases) > 1 else subject
    questions = [
        f"What does {first} change for teams that already run this kind of workload?",
        f"What are the limits and the costs of {second} today?",
    ]
    return json.dumps(
        {
            "summary": " ".join(s.text for s in summary),
            "why_it_matters": f"{why.text} {DRAFT}",
            "questions": questions,
        },
        ensure_ascii=False,
    )


def prep_ranking(task: PromptTask) -> str:
    """Candidates ranked by how many audience words they share (ties: feed order)."""
    audience = _audience_words(task)
    scored = [
        (-len(audience & set(extract.content_words(segment.text))), number)
        for number, segment in enumerate(task.transcript.segments, 1)
    ]
    return json.dumps({"order": [number for _score, number in sorted(scored)]})
