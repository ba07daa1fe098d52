"""An article page → its main text, with trafilatura (no regexes over HTML).

What cannot be read is a :class:`Problem`: the page is down, is not HTML, holds no article
text (a script-only shell, an error page), or is behind a paywall (HTTP 401/402/403, or a
teaser with a subscribe wall).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from podpipe_llm.prep.feeds import normalise_title
from podpipe_llm.prep.fetch import Fetched, Fetcher, FetchError
from podpipe_llm.prep.models import FeedItem, Problem

MIN_ARTICLE_CHARS = 300
_PAYWALL = re.compile(
    r"subscribe to (continue|read)|subscribers only|for subscribers|paywall|"
    r"sign in to (continue|read)|already a subscriber|premium (article|content)",
    re.I,
)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)


@dataclass(frozen=True)
class Article:
    item: FeedItem
    text: str


def page_html(fetched: Fetched) -> str | bytes:
    """The page as text in the charset its server declares; else its bytes, which
    trafilatura decodes by the page's own ``<meta charset>`` (or a guess). Decoding every
    page as UTF-8 turned a Latin-1 "café" into "caf�" in the summary."""
    declared = _CHARSET.search(fetched.content_type)
    if declared:
        try:
            return fetched.body.decode(declared.group(1), "replace")
        except LookupError:  # a charset Python does not know: let trafilatura guess
            pass
    return fetched.body


def extract_text(html: str | bytes, url: str) -> str:
    """The article's main text, one paragraph a line, or '' if none. No ``deduplicate``:
    trafilatura's is a process-wide cache, so a second run would lose what the first read."""
    # Imported on first use: it costs a second, which the studio and every `podpipe` command
    # that only reads a saved brief would otherwise pay at start-up.
    import trafilatura

    text = trafilatura.extract(
        html,
        url=url,
        include_comments=False,
        include_tables=False,
        favor_precision=True,
    )
    return (text or "").strip()


def read_article(fetcher: Fetcher, item: FeedItem, *, max_chars: int) -> Article | Problem:
    def problem(kind: str, reason: str) -> Problem:
        return Problem.model_validate(
            {"kind": kind, "source": item.title, "url": item.url, "reason": reason}
        )

    try:
        fetched = fetcher.get(item.url)
    except FetchError as exc:
        return problem("article", f"could not be fetched: {exc}")
    if fetched.status in {401, 402, 403}:
        return problem("paywall", f"access refused (HTTP {fetched.status}): paywall or login")
    if fetched.status >= 400:
        return problem("article", f"could not be fetched: HTTP {fetched.status}")
    if "html" not in fetched.content_type.lower() and fetched.body.lstrip()[:1] != b"<":
        return problem("article", f"not an HTML page ({fetched.content_type or 'no type'})")
    text = extract_text(page_html(fetched), fetched.url)
    raw = fetched.body.decode("utf-8", "replace")
    if len(text) < MIN_ARTICLE_CHARS and _PAYWALL.search(raw):
        return problem("paywall", "only a teaser is readable: the article is behind a paywall")
    if len(text) < MIN_ARTICLE_CHARS:
        return problem(
            "article",
            f"could not be parsed: no article text found ({len(text)} characters extracted)",
        )
    return Article(item=item, text=_without_title(text, item.title)[:max_chars])


def _without_title(text: str, title: str) -> str:
    # trafilatura keeps the page's <h1>; the title is passed separately, and a heading
    # without a full stop would run into the first sentence.
    first, _, rest = text.partition("\n")
    same = normalise_title(first) == normalise_title(title)
    return rest.strip() if same and rest.strip() else text
