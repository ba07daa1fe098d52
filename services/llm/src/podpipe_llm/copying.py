"""What an answer copies: from its own prompt's instructions, or from the transcript.

One rule for the runner (the sentences of an answer that copy its instructions are dropped;
an answer left with nothing else is sent back, like invalid JSON) and the evaluation (any
copied run, scored). A small model told "Two short paragraphs a listener reads before
pressing play" under a "## Summary" heading sometimes writes exactly that sentence before,
or instead of, the summary.
"""

from __future__ import annotations

import re

INSTRUCTION_RUN_WORDS = 7
"""A run of this many words of the prompt's own instructions, in order, is a copy.

Short enough for the sentence a model copies ("Two short paragraphs a listener reads…" is
nine), long enough that the phrases an answer shares with any instruction ("in the order
they", "None mentioned.") are not.
"""

COPIED_SHARE = 0.6
"""A sentence whose copied run is at least this share of its words is the copy, not content."""

_WORD = re.compile(r"[a-z0-9']+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_PLACEHOLDER = re.compile(r"\{\{.*?\}\}")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def longest_shared_run(answer: list[str], source: list[str], n: int) -> tuple[int, int]:
    """(length, start in ``answer``) of the longest run of ``answer`` that also occurs in
    ``source`` word for word, counting runs of at least ``n`` words; (0, 0) when none."""
    grams = {tuple(source[i : i + n]) for i in range(len(source) - n + 1)}
    best = (0, 0)
    run = 0
    for i in range(len(answer) - n + 1):
        if tuple(answer[i : i + n]) in grams:
            run = run + 1 if run else n
            if run > best[0]:
                best = (run, i + n - run)
        else:
            run = 0
    return best


def instruction_words(template: str) -> list[str]:
    """The words of a prompt's instructions: not its placeholders, and not its heading lines,
    which an answer is told to use as they are."""
    lines = [line for line in template.splitlines() if not line.lstrip().startswith("#")]
    return words(_PLACEHOLDER.sub(" ", "\n".join(lines)))


def copied_instructions(template: str, answer: str) -> str | None:
    """The words of ``template``'s instructions that ``answer`` copies, or None."""
    said = words(answer)
    length, start = longest_shared_run(said, instruction_words(template), INSTRUCTION_RUN_WORDS)
    return " ".join(said[start : start + length]) if length else None


def drop_copied_instructions(template: str, answer: str) -> tuple[str, list[str]]:
    """``answer`` without the sentences that are mostly a copy of ``template``'s instructions,
    and the sentences dropped.

    A small model often writes the instruction under its heading ("A bullet list of every
    book, tool…") and then the content: dropping the copy keeps the content, where sending
    the whole answer back gets the same copy again. Headings stay (the prompt asks for them).
    """
    source = instruction_words(template)
    kept: list[str] = []
    dropped: list[str] = []
    for line in answer.splitlines():
        if line.lstrip().startswith("#"):
            kept.append(line)
            continue
        sentences = _SENTENCE_END.split(line)
        remaining = []
        for sentence in sentences:
            said = words(sentence)
            run, _ = longest_shared_run(said, source, INSTRUCTION_RUN_WORDS)
            if run and run >= COPIED_SHARE * len(said):
                dropped.append(sentence.strip(" -*"))
            else:
                remaining.append(sentence)
        if remaining or not line.strip():
            kept.append(" ".join(remaining))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip(), dropped


def has_content(answer: str) -> bool:
    """True when ``answer`` says something besides its headings."""
    return any(words(line) for line in answer.splitlines() if not line.lstrip().startswith("#"))
