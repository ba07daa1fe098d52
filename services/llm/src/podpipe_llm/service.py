"""Wiring: settings + injected clients → the providers, the runner and the llm Service."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from podpipe.events import PromptRequested, TranscriptReady
from podpipe.runtime.metrics import MetricsSink, StreamMetricsSink, emf_count
from podpipe.runtime.service import Consumer, Route, Service
from podpipe.stages import S3StageLedger, StageLedger
from podpipe_llm.dispatcher import Dispatcher
from podpipe_llm.prep.links import ShowNotesLinks
from podpipe_llm.providers.base import LlmProvider
from podpipe_llm.providers.bedrock import BedrockConverseProvider, bedrock_client_config
from podpipe_llm.providers.extractive import ExtractiveProvider
from podpipe_llm.providers.openai_compat import OpenAICompatibleProvider
from podpipe_llm.providers.registry import Providers
from podpipe_llm.ratelimit import Clock, RateLimiters
from podpipe_llm.runner import PromptRetryPolicy, PromptRunner
from podpipe_llm.settings import LlmSettings
from podpipe_llm.store import CatalogSource, EpisodeStore, S3CatalogSource, S3EpisodeStore
from podpipe_llm.worker import PromptWorker

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def build_providers(
    settings: LlmSettings,
    *,
    bedrock_client: Any | None = None,
    http_client: httpx.Client | None = None,
    extra: dict[str, LlmProvider] | None = None,
) -> Providers:
    """Every provider that is configured; ``extractive`` is always there (offline stand-in)."""
    providers: dict[str, LlmProvider] = {"extractive": ExtractiveProvider()}
    if bedrock_client is None:
        import boto3  # imported here: building settings must not need AWS

        bedrock_client = boto3.client(
            "bedrock-runtime",
            region_name=settings.region,
            config=bedrock_client_config(
                max_attempts=3, timeout_seconds=settings.llm_request_timeout_seconds
            ),
        )
    providers["bedrock"] = BedrockConverseProvider(bedrock_client)
    if settings.llm_openai_base_url:
        providers["openai"] = OpenAICompatibleProvider(
            http_client or httpx.Client(timeout=settings.llm_request_timeout_seconds),
            settings.llm_openai_base_url,
            settings.llm_openai_api_key,
            json_schema=settings.llm_openai_json_schema,
            seed=settings.llm_seed,
        )
    providers.update(extra or {})
    return Providers(
        providers,
        default_provider=settings.provider(),
        default_model=settings.llm_model,
        missing_hints={"openai": "Set PODPIPE_LLM_OPENAI_BASE_URL to the server's /v1 URL."},
    )


SERVICE_NAME = "llm"


def throttle_metric(sink: MetricsSink) -> Callable[[str], None]:
    """Each throttled call → one "Throttled" count (namespace podpipe, dimension service=llm)."""

    def count(model: str) -> None:
        sink.emit({**emf_count("Throttled", {"service": SERVICE_NAME}), "model": model})

    return count


def build_runner(
    settings: LlmSettings,
    providers: Providers,
    *,
    clock: Clock | None = None,
    metrics: MetricsSink | None = None,
) -> PromptRunner:
    kwargs: dict[str, Any] = {}
    if clock is not None:
        kwargs["clock"] = clock
    return PromptRunner(
        on_throttle=throttle_metric(metrics or StreamMetricsSink()),
        providers=providers,
        limiters=RateLimiters(settings.rate_limit, clock),
        context_tokens=settings.llm_context_tokens,
        max_output_tokens=settings.llm_max_output_tokens,
        policy=PromptRetryPolicy(
            max_attempts=settings.llm_max_attempts,
            backoff_max_seconds=settings.llm_backoff_max_seconds,
            json_attempts=settings.llm_json_attempts,
        ),
        **kwargs,
    )


def build_service(
    settings: LlmSettings,
    *,
    s3: S3Client,
    providers: Providers | None = None,
    runner: PromptRunner | None = None,
    store: EpisodeStore | None = None,
    catalog: CatalogSource | None = None,
    ledger: StageLedger | None = None,
) -> Service:
    """The llm service: the dispatcher on llm-dispatch, the one worker on llm."""
    providers = providers or build_providers(settings)
    runner = runner or build_runner(settings, providers)
    store = store or S3EpisodeStore(s3, settings.bucket)
    catalog = catalog or S3CatalogSource(s3, settings.bucket, settings.llm_prompts_dir)
    ledger = ledger or S3StageLedger(s3, settings.bucket)
    dispatcher = Dispatcher(store, catalog, providers, ledger=ledger)
    worker = PromptWorker(
        store, catalog, runner, ShowNotesLinks.from_s3(s3, settings.bucket), ledger=ledger
    )
    return Service(
        name=SERVICE_NAME,
        consumers=[
            Consumer(queue="llm-dispatch", routes=[Route(TranscriptReady, dispatcher.handle)]),
            Consumer(
                queue="llm",
                routes=[Route(PromptRequested, worker.handle, on_failure=worker.on_failure)],
                concurrency=1,
            ),
        ],
    )
