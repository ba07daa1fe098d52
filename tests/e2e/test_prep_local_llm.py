"""podpipe prep with a real model: the local llama.cpp server (tests/support/local_llm.py).

Slow and CPU-heavy on two shared cores: run it alone, never beside other model tests —
`make test-prep-model` (about 2.5 minutes once the model is assembled). Opt-in: `make test`
already spends most of its 20-minute budget on the episode's real-model e2e test.

It failed in the CI rehearsal because the constrained-decoding schemas of the prep prompts
did not say what their checks demand: the 0.5B model wrote each item's title as a one-sentence
"summary" and ranked candidates that do not exist ("[8, 9, 10]" of 7), and repeated those
answers word for word when the problems were fed back, so every item failed its three tries.
The schemas now carry the 3-sentence pattern and the candidates' number range
(podpipe_llm.schemas.decoding_schema).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from podpipe_llm import extract
from podpipe_llm.prep.brief import prepare_brief, render_markdown
from podpipe_llm.prep.settings import PrepSettings
from podpipe_llm.prep.writer import RunnerBriefWriter
from podpipe_llm.service import build_providers, build_runner
from tests.support.local_llm import LocalLlm
from tests.support.prep_site import config, prep_site

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.model_prep]


@pytest.mark.timeout(1500)
def test_a_real_model_briefs_the_top_items_from_the_articles(
    local_llm: LocalLlm, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in local_llm.service_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PODPIPE_PREP_REQUESTS_PER_MINUTE", "0")  # a local server has no quota
    settings = PrepSettings()
    writer = RunnerBriefWriter(build_runner(settings, build_providers(settings)))

    with prep_site() as site:
        brief = prepare_brief(
            config(max_items=3),
            date="2026-11-28",
            since=datetime(2026, 11, 20, tzinfo=UTC),
            now=datetime(2026, 11, 28, 9, tzinfo=UTC),
            fetcher=site.fetcher(),
            writer=writer,
            model=writer.model,
        )
        articles = {
            url: site.fetcher().get(url).body.decode() for url in [i.url for i in brief.items]
        }

    print(render_markdown(brief))
    assert brief.model == f"openai:{local_llm.model}"
    assert {p.kind for p in brief.problems} >= {"feed", "article", "paywall"}
    # A small model may fail an item for good (reported); most of the cut is briefed.
    assert len(brief.items) >= 2
    for item in brief.items:
        assert item.url in articles  # a link from the feed, never one the model wrote
        assert len(item.questions) == 2
        assert all(q.endswith("?") for q in item.questions)
        # Grounded: most of the summary's content words are in the article it summarises.
        said = set(extract.content_words(articles[item.url]))
        words = set(extract.content_words(item.summary))
        assert len(words & said) >= 0.6 * len(words), item.summary
