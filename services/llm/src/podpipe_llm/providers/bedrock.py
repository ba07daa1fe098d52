"""Amazon Bedrock through the Converse API: one request shape for Claude, Nova, Llama, Mistral.

``model`` is a foundation model id, an inference profile id/ARN, or a Prompt Management
prompt version ARN (``arn:aws:bedrock:<region>:<account>:prompt/<id>:<version>``). For a
managed prompt, Converse takes the ARN as ``modelId`` plus ``promptVariables`` and refuses
``system``/``inferenceConfig`` (they live in the managed prompt); later turns (a JSON
validation error fed back) are appended as ``messages``.

Prompt caching: the episode's shared prefix (instructions + transcript) is the ``system``
block, followed by a ``cachePoint`` on models that support Bedrock prompt caching, so every
prompt after the first of an episode reads the transcript from the cache (billed at a
fraction of an input token). Structured output: a JSON prompt on a model that supports
forced tool choice gets one tool whose ``inputSchema`` is the output schema and
``toolChoice`` naming it; the tool call's ``input`` is the answer. Other models get the
schema in the prompt text only; validation and repair stay the safety net either way.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
)

from podpipe_llm.providers.base import (
    Completion,
    CompletionRequest,
    ContextTooLongError,
    RefusedError,
    ThrottledError,
    TransientError,
)

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient

PROMPT_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{12}:prompt/[0-9A-Za-z]{10}(:\d+)?$")
_THROTTLED = {"ThrottlingException", "TooManyRequestsException"}
_TRANSIENT = {
    "ServiceUnavailableException",
    "ModelNotReadyException",
    "ModelTimeoutException",
    "InternalServerException",
    "ModelErrorException",
}
ANSWER_TOOL = "answer"
# Model families with Bedrock prompt caching (cachePoint) and with forced tool choice
# (toolChoice.tool), matched on the bare model id after any "us."/"eu." profile prefix.
_CACHING = re.compile(
    r"^(anthropic\.claude-(3-7-sonnet|3-5-haiku|sonnet-4|opus-4|haiku-4)|amazon\.nova-)"
)
_TOOL_CHOICE = re.compile(r"^(anthropic\.claude-|amazon\.nova-)")
# Bedrock reports an oversized input as a ValidationException with one of these phrasings.
_TOO_LONG = re.compile(r"too long|too many (input )?tokens|context (length|window)", re.I)


def bedrock_client_config(max_attempts: int, timeout_seconds: float) -> Config:
    """Adaptive retry mode: botocore's own client-side rate limiting on top of podpipe's."""
    return Config(
        retries={"mode": "adaptive", "max_attempts": max_attempts},
        read_timeout=timeout_seconds,
        connect_timeout=10,
    )


def is_prompt_arn(model: str) -> bool:
    return bool(PROMPT_ARN.match(model))


def _family(model: str) -> str:
    head, _, rest = model.partition(".")
    return rest if head in {"us", "eu", "apac", "global"} and rest else model


def supports_prompt_caching(model: str) -> bool:
    return bool(_CACHING.match(_family(model)))


def supports_forced_tool(model: str) -> bool:
    return bool(_TOOL_CHOICE.match(_family(model)))


class BedrockConverseProvider:
    name = "bedrock"
    rate_limited = True
    needs_context_budget = True

    def __init__(self, client: BedrockRuntimeClient) -> None:
        self._client = client

    def converse_request(self, request: CompletionRequest) -> dict[str, Any]:
        """The exact Converse parameters for a request (public so tests can compare)."""
        messages = [{"role": m.role, "content": [{"text": m.text}]} for m in request.messages]
        if is_prompt_arn(request.model):
            params: dict[str, Any] = {
                "modelId": request.model,
                # Prompt Management variable names allow letters, digits, '_' and '-' only.
                "promptVariables": {
                    name.replace(".", "_"): {"text": value}
                    for name, value in request.task.variables.items()
                },
            }
            # The managed prompt is the first user turn; only follow-up turns are appended.
            if len(messages) > 1:
                params["messages"] = messages[1:]
            return params
        params = {
            "modelId": request.model,
            "messages": messages,
            "inferenceConfig": {
                "maxTokens": request.max_tokens,
                "temperature": request.temperature,
            },
        }
        if request.system:
            system: list[dict[str, Any]] = [{"text": request.system}]
            if request.cache_system and supports_prompt_caching(request.model):
                system.append({"cachePoint": {"type": "default"}})
            params["system"] = system
        if request.json_schema is not None and supports_forced_tool(request.model):
            params["toolConfig"] = {
                "tools": [
                    {
                        "toolSpec": {
                            "name": ANSWER_TOOL,
                            "description": f"Give the {request.task.schema_name or 'JSON'} "
                            "answer, matching the schema exactly.",
                            "inputSchema": {"json": request.json_schema},
                        }
                    }
                ],
                "toolChoice": {"tool": {"name": ANSWER_TOOL}},
            }
        return params

    def complete(self, request: CompletionRequest) -> Completion:
        try:
            response = self._client.converse(**self.converse_request(request))
        except ClientError as exc:
            raise map_bedrock_error(exc) from exc
        except (ConnectionError, ConnectTimeoutError, ReadTimeoutError) as exc:
            raise TransientError(f"Bedrock unreachable: {exc}") from exc
        content = response.get("output", {}).get("message", {}).get("content", [])
        tool_inputs = [
            block["toolUse"].get("input")
            for block in content
            if isinstance(block.get("toolUse"), dict)
            and block["toolUse"].get("name") == ANSWER_TOOL
        ]
        if tool_inputs:
            text = json.dumps(tool_inputs[0], ensure_ascii=False)
        else:
            text = "".join(block.get("text", "") for block in content)
        usage = response.get("usage", {})
        # Converse counts cached prompt tokens apart from inputTokens; podpipe's input_tokens
        # is every prompt token, of which cached_input_tokens were read from the cache.
        cache_read = int(usage.get("cacheReadInputTokens", 0) or 0)
        cache_write = int(usage.get("cacheWriteInputTokens", 0) or 0)
        return Completion(
            text=text,
            input_tokens=int(usage.get("inputTokens", 0)) + cache_read + cache_write,
            output_tokens=int(usage.get("outputTokens", 0)),
            stop_reason=str(response.get("stopReason", "end_turn")),
            cached_input_tokens=cache_read,
            cache_write_tokens=cache_write,
        )


def map_bedrock_error(exc: ClientError) -> Exception:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = f"Bedrock {code}: {error.get('Message', '')}".strip()
    if code in _THROTTLED:
        return ThrottledError(message)
    if code in _TRANSIENT:
        return TransientError(message)
    if code == "ValidationException" and _TOO_LONG.search(message):
        return ContextTooLongError(message)
    # ValidationException, AccessDeniedException, ResourceNotFoundException and anything
    # podpipe does not know: retrying a refused request only burns quota.
    return RefusedError(message)
