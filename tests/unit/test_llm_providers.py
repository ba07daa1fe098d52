"""Providers: Bedrock Converse request shapes and error mapping (botocore Stubber), the
OpenAI-compatible HTTP adapter (httpx MockTransport), and which provider a model string picks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.stub import Stubber

from podpipe.layout import EpisodeMetadata
from podpipe.runtime.metrics import ListMetricsSink
from podpipe_llm.catalog import load_catalog
from podpipe_llm.providers.base import (
    CompletionRequest,
    ContextTooLongError,
    Message,
    PromptTask,
    RefusedError,
    ThrottledError,
    TransientError,
)
from podpipe_llm.providers.bedrock import BedrockConverseProvider
from podpipe_llm.providers.openai_compat import OpenAICompatibleProvider
from podpipe_llm.providers.registry import Providers
from podpipe_llm.ratelimit import RateLimiters
from podpipe_llm.runner import PromptRunner
from podpipe_llm.service import build_providers, throttle_metric
from podpipe_llm.settings import LlmSettings, RateLimit
from tests.support.scripted_llm import FakeClock, synthetic_transcript

MODEL = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
PROMPT_ARN = "arn:aws:bedrock:us-east-1:123456789012:prompt/PROMPT1234:3"
TRANSCRIPT = synthetic_transcript("ep-1", 600)


def task(**changes: Any) -> PromptTask:
    base = PromptTask(
        prompt_id="titles",
        output_format="markdown",
        schema_name=None,
        transcript=TRANSCRIPT,
        metadata=EpisodeMetadata(),
        variables={
            "title": "Loud",
            "transcript": "[00:00:00] A: hi",
            "outputs.chapters": '{"chapters": []}',
        },
    )
    return PromptTask(**{**base.__dict__, **changes})


def request(model: str = MODEL, *messages: Message) -> CompletionRequest:
    return CompletionRequest(
        model=model,
        messages=messages or (Message("user", "Write titles"),),
        max_tokens=500,
        temperature=0.7,
        task=task(),
        system="Be careful.",
    )


def converse_reply(text: str) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 1200, "outputTokens": 80, "totalTokens": 1280},
        "metrics": {"latencyMs": 900},
    }


@pytest.fixture
def bedrock() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_bedrock_converse_request_and_response(bedrock: tuple[Any, Stubber]) -> None:
    client, stubber = bedrock
    stubber.add_response(
        "converse",
        converse_reply("1. **A title**"),
        {
            "modelId": MODEL,
            "messages": [{"role": "user", "content": [{"text": "Write titles"}]}],
            "system": [{"text": "Be careful."}],
            "inferenceConfig": {"maxTokens": 500, "temperature": 0.7},
        },
    )

    completion = BedrockConverseProvider(client).complete(request())

    assert completion.text == "1. **A title**"
    assert (completion.input_tokens, completion.output_tokens) == (1200, 80)


def test_bedrock_prompt_management_sends_the_arn_and_the_variables(
    bedrock: tuple[Any, Stubber],
) -> None:
    client, stubber = bedrock
    follow_up = (Message("user", "ignored: the managed prompt"), Message("assistant", "bad"),
                 Message("user", "fix it"))  # fmt: skip
    stubber.add_response(
        "converse",
        converse_reply("ok"),
        {
            "modelId": PROMPT_ARN,
            "promptVariables": {
                "title": {"text": "Loud"},
                "transcript": {"text": "[00:00:00] A: hi"},
                "outputs_chapters": {"text": '{"chapters": []}'},
            },
            "messages": [
                {"role": "assistant", "content": [{"text": "bad"}]},
                {"role": "user", "content": [{"text": "fix it"}]},
            ],
        },
    )

    assert BedrockConverseProvider(client).complete(request(PROMPT_ARN, *follow_up)).text == "ok"


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("ThrottlingException", "Too many requests, please wait.", ThrottledError),
        ("ServiceUnavailableException", "Service unavailable", TransientError),
        ("ModelNotReadyException", "Model is loading", TransientError),
        ("ModelTimeoutException", "timed out", TransientError),
        ("InternalServerException", "oops", TransientError),
        ("ModelErrorException", "model error", TransientError),
        ("ValidationException", "The provided model identifier is invalid.", RefusedError),
        ("AccessDeniedException", "You don't have access to the model", RefusedError),
        ("ResourceNotFoundException", "Model not found", RefusedError),
        ("ValidationException", "Input is too long for requested model.", ContextTooLongError),
    ],
)
def test_bedrock_errors_map_to_retry_decisions(
    bedrock: tuple[Any, Stubber], code: str, message: str, expected: type[Exception]
) -> None:
    client, stubber = bedrock
    stubber.add_client_error("converse", service_error_code=code, service_message=message,
                             http_status_code=400)  # fmt: skip

    with pytest.raises(expected, match=message.split()[0]):
        BedrockConverseProvider(client).complete(request())


def test_bedrock_throttling_is_retried_until_the_prompt_completes(
    bedrock: tuple[Any, Stubber],
) -> None:
    client, stubber = bedrock
    for _ in range(3):
        stubber.add_client_error("converse", "ThrottlingException", "slow down", 429)
    stubber.add_response("converse", converse_reply("# Title ideas\n1. **One**"))
    clock = FakeClock()
    providers = Providers({"bedrock": BedrockConverseProvider(client)}, default_provider="bedrock",
                          default_model=MODEL)  # fmt: skip
    runner = PromptRunner(
        providers=providers,
        limiters=RateLimiters(lambda _m: RateLimit(requests_per_minute=2), clock),
        clock=clock,
    )

    result = runner.run(
        load_catalog().get("titles"), model="default", transcript=TRANSCRIPT,
        metadata=EpisodeMetadata(),
    )  # fmt: skip

    assert result.text.startswith("# Title ideas")
    assert (result.stats.attempts, result.stats.throttled) == (4, 3)
    assert result.model == f"bedrock:{MODEL}"
    assert result.cost_usd == pytest.approx(1200 / 1000 * 0.0008 + 80 / 1000 * 0.004)
    # A throttled call used no quota, so its slot is given back: the retries waited for
    # their jittered backoff only, not for another 30 s interval of the 2/min quota each.
    assert result.stats.backoff_seconds > 0
    assert clock.t - 1000.0 == pytest.approx(result.stats.backoff_seconds)


def openai(handler: Any) -> OpenAICompatibleProvider:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return OpenAICompatibleProvider(client, "http://llm.local:11434/v1/", "secret")


def test_openai_compatible_request_and_response() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, json={
            "choices": [{"message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 7},
        })  # fmt: skip

    completion = openai(handler).complete(request("llama3.1:8b"))

    assert (completion.text, completion.input_tokens, completion.output_tokens) == ("hello", 50, 7)
    body = json.loads(seen[0].content)
    assert str(seen[0].url) == "http://llm.local:11434/v1/chat/completions"
    assert seen[0].headers["authorization"] == "Bearer secret"
    assert body["model"] == "llama3.1:8b"
    assert body["max_tokens"] == 500
    assert body["messages"][0] == {"role": "system", "content": "Be careful."}


@pytest.mark.parametrize(
    ("status", "expected"),
    [(429, ThrottledError), (503, TransientError), (400, RefusedError), (404, RefusedError)],
)
def test_openai_compatible_errors_map_to_retry_decisions(
    status: int, expected: type[Exception]
) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"retry-after": "7"}, text="nope")

    with pytest.raises(expected) as caught:
        openai(handler).complete(request("m"))
    if status == 429:
        assert isinstance(caught.value, ThrottledError)
        assert caught.value.retry_after == 7.0


def test_openai_server_down_is_transient() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with pytest.raises(TransientError, match="unreachable"):
        openai(handler).complete(request("m"))


@pytest.mark.parametrize(
    ("env", "catalog_model", "resolved"),
    [
        ({}, "default", "extractive"),  # no LLM configured: the offline stand-in
        ({}, "bedrock:amazon.nova-lite-v1:0", "bedrock:amazon.nova-lite-v1:0"),
        ({"PODPIPE_LLM_MODEL": "amazon.nova-pro-v1:0"}, "default", "bedrock:amazon.nova-pro-v1:0"),
        ({"PODPIPE_LLM_MODEL": "amazon.nova-pro-v1:0"}, MODEL, f"bedrock:{MODEL}"),
        ({"PODPIPE_LLM_MODEL": "x"}, "extractive", "extractive"),
        (
            {
                "PODPIPE_LLM_OPENAI_BASE_URL": "http://localhost:11434/v1",
                "PODPIPE_LLM_MODEL": "qwen2.5",
            },
            "default",
            "openai:qwen2.5",
        ),
    ],
)
def test_which_provider_and_model_a_prompt_gets(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], catalog_model: str, resolved: str
) -> None:
    for key in ("PODPIPE_LLM_MODEL", "PODPIPE_LLM_OPENAI_BASE_URL", "PODPIPE_LLM_PROVIDER"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    providers = build_providers(LlmSettings(), bedrock_client=object())

    assert providers.resolve(catalog_model) == resolved


def test_per_model_rate_limits_come_from_json_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PODPIPE_LLM_RATE_LIMITS",
        '{"amazon.nova-lite-v1:0": {"requests_per_minute": 20, "tokens_per_minute": 200000}}',
    )
    monkeypatch.setenv("PODPIPE_LLM_REQUESTS_PER_MINUTE", "2")
    settings = LlmSettings()

    # Terraform names models by their bare id; the limiter sees the canonical name.
    assert settings.rate_limit("bedrock:amazon.nova-lite-v1:0").requests_per_minute == 20
    assert settings.rate_limit("amazon.nova-lite-v1:0").tokens_per_minute == 200000
    assert settings.rate_limit("bedrock:other").requests_per_minute == 2


def test_every_throttled_call_is_counted_for_the_throttling_alarm() -> None:
    sink = ListMetricsSink()
    count = throttle_metric(sink)
    count("bedrock:amazon.nova-lite-v1:0")
    count("bedrock:amazon.nova-lite-v1:0")

    assert len(sink.records) == 2
    record = sink.records[0]
    [directive] = record["_aws"]["CloudWatchMetrics"]
    # The alarm in infra/terraform/alarms.tf watches podpipe/Throttled by service alone.
    assert directive["Namespace"] == "podpipe"
    assert directive["Dimensions"] == [["service"]]
    assert directive["Metrics"] == [{"Name": "Throttled", "Unit": "Count"}]
    assert record["service"] == "llm"
    assert record["Throttled"] == 1


# --------------------------------------------------------------- caching and structured output

CHAPTERS_SCHEMA = {
    "type": "object",
    "properties": {"chapters": {"type": "array", "items": {"type": "object"}}},
    "required": ["chapters"],
}


def json_request(model: str = MODEL, *, cache: bool = True) -> CompletionRequest:
    return CompletionRequest(
        model=model,
        messages=(Message("user", "Chapters, please"),),
        max_tokens=300,
        temperature=0.2,
        task=task(prompt_id="chapters", output_format="json", schema_name="chapters"),
        system="Editor rules.\n\nTranscript:\n[00:00:00] A: hi",
        cache_system=cache,
        json_schema=CHAPTERS_SCHEMA,
    )


def test_bedrock_caches_the_shared_prefix_and_forces_the_schema_tool(
    bedrock: tuple[Any, Stubber],
) -> None:
    client, stubber = bedrock
    answer = {"chapters": [{"startTime": 0, "title": "Intro"}]}
    stubber.add_response(
        "converse",
        {
            "output": {
                "message": {
                    "role": "assistant",
                    "content": [
                        {"toolUse": {"toolUseId": "t1", "name": "answer", "input": answer}}
                    ],
                }
            },
            "stopReason": "tool_use",
            "usage": {
                "inputTokens": 40,
                "outputTokens": 30,
                "totalTokens": 1270,
                "cacheReadInputTokens": 1200,
                "cacheWriteInputTokens": 0,
            },
            "metrics": {"latencyMs": 400},
        },
        {
            "modelId": MODEL,
            "messages": [{"role": "user", "content": [{"text": "Chapters, please"}]}],
            "system": [
                {"text": "Editor rules.\n\nTranscript:\n[00:00:00] A: hi"},
                {"cachePoint": {"type": "default"}},
            ],
            "inferenceConfig": {"maxTokens": 300, "temperature": 0.2},
            "toolConfig": {
                "tools": [
                    {
                        "toolSpec": {
                            "name": "answer",
                            "description": "Give the chapters answer, matching the schema exactly.",
                            "inputSchema": {"json": CHAPTERS_SCHEMA},
                        }
                    }
                ],
                "toolChoice": {"tool": {"name": "answer"}},
            },
        },
    )

    completion = BedrockConverseProvider(client).complete(json_request())

    assert json.loads(completion.text) == answer  # the tool call's input is the answer
    # Every prompt token counts as input; 1,200 of them were read from the cache.
    assert (completion.input_tokens, completion.cached_input_tokens) == (1240, 1200)


def test_bedrock_models_without_caching_or_forced_tools_get_plain_requests(
    bedrock: tuple[Any, Stubber],
) -> None:
    client, stubber = bedrock
    llama = "meta.llama3-1-8b-instruct-v1:0"
    stubber.add_response(
        "converse",
        converse_reply('{"chapters": []}'),
        {
            "modelId": llama,
            "messages": [{"role": "user", "content": [{"text": "Chapters, please"}]}],
            "system": [{"text": "Editor rules.\n\nTranscript:\n[00:00:00] A: hi"}],
            "inferenceConfig": {"maxTokens": 300, "temperature": 0.2},
        },
    )

    completion = BedrockConverseProvider(client).complete(json_request(llama))

    assert completion.text == '{"chapters": []}'
    assert completion.cached_input_tokens == 0


def test_cached_prompt_tokens_cost_a_fraction_of_fresh_ones() -> None:
    from podpipe.pricing import llm_cost

    haiku = "anthropic.claude-3-5-haiku-20241022-v1:0"
    fresh = llm_cost(haiku, 10_000, 500)
    cached = llm_cost(haiku, 10_000, 500, cached_input_tokens=9_000)
    # 9,000 tokens at a tenth of the input price: 10,000 → 1,000 + 900 token-equivalents.
    assert cached == pytest.approx(fresh - 9_000 * 0.9 / 1000 * 0.0008)
    written = llm_cost(haiku, 10_000, 500, cache_write_tokens=9_000)
    assert written > fresh  # writing the cache costs a little more than a plain read
    assert llm_cost("qwen2.5-coder-1.5b-instruct", 10_000, 500) == 0.0  # local: no bill


def test_openai_compatible_sends_the_json_schema_and_reads_cached_tokens() -> None:
    seen: list[dict[str, Any]] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(json.loads(req.content))
        return httpx.Response(200, json={
            "choices": [{"message": {"role": "assistant", "content": '{"chapters": []}'},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 971, "completion_tokens": 12,
                      "prompt_tokens_details": {"cached_tokens": 902}},
        })  # fmt: skip

    completion = openai(handler).complete(json_request("qwen"))

    assert seen[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "chapters", "schema": CHAPTERS_SCHEMA, "strict": True},
    }
    assert seen[0]["messages"][0]["role"] == "system"  # the shared prefix first...
    assert seen[0]["messages"][-1]["content"] == "Chapters, please"  # ...the task last
    assert (completion.input_tokens, completion.cached_input_tokens) == (971, 902)


def test_openai_compatible_can_fall_back_to_json_object() -> None:
    seen: list[dict[str, Any]] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(json.loads(req.content))
        return httpx.Response(
            200,
            json={
                "choices": [{"message": {"content": "{}"}, "finish_reason": "stop"}],
                "usage": {},
            },
        )

    client = httpx.Client(transport=httpx.MockTransport(handler))
    OpenAICompatibleProvider(client, "http://x/v1", json_schema=False).complete(json_request("m"))

    assert seen[0]["response_format"] == {"type": "json_object"}
