"""Catalog overrides from the bucket's prompts/ prefix (LocalStack S3)."""

from __future__ import annotations

import pytest

from podpipe.runtime.errors import PermanentError
from podpipe.runtime.service import MessageContext
from podpipe.stages import S3StageLedger
from podpipe_llm.catalog import CatalogError
from podpipe_llm.dispatcher import Dispatcher
from podpipe_llm.providers.extractive import ExtractiveProvider
from podpipe_llm.providers.registry import Providers
from podpipe_llm.store import S3CatalogSource, S3EpisodeStore
from tests.support.localstack import Stack
from tests.support.scripted_llm import transcript_ready

pytestmark = pytest.mark.integration

OVERRIDE = """---
id: titles
description: Three short titles
temperature: 0.2
---
Three titles for {{ title }}: {{ transcript }}
"""


def test_bucket_prompts_override_the_packaged_ones_without_a_redeploy(stack: Stack) -> None:
    stack.s3.put_object(Bucket=stack.bucket, Key="prompts/titles.md", Body=OVERRIDE.encode())
    stack.s3.put_object(Bucket=stack.bucket, Key="prompts/notes/ignored.md", Body=b"x")

    catalog = S3CatalogSource(stack.s3, stack.bucket).load()

    assert catalog.get("titles").description == "Three short titles"
    assert catalog.get("titles").source == f"s3://{stack.bucket}/prompts/titles.md"
    assert catalog.get("chapters").source.endswith("prompts/chapters.md")  # packaged default


def test_a_broken_override_stops_dispatch_with_a_clear_reason(stack: Stack) -> None:
    broken = OVERRIDE.replace("{{ title }}", "{{ episode_title }}")
    stack.s3.put_object(Bucket=stack.bucket, Key="prompts/titles.md", Body=broken.encode())
    source = S3CatalogSource(stack.s3, stack.bucket)
    with pytest.raises(CatalogError, match=r"unknown variable \{\{ episode_title \}\}"):
        source.load()

    dispatcher = Dispatcher(
        S3EpisodeStore(stack.s3, stack.bucket),
        source,
        Providers({"extractive": ExtractiveProvider()}, default_provider="extractive"),
        ledger=S3StageLedger(stack.s3, stack.bucket),
    )
    with pytest.raises(PermanentError, match="episode_title"):
        dispatcher.handle(
            transcript_ready("ep-1", 60, stack.bucket), MessageContext("m", "llm-dispatch", 1, 5)
        )
