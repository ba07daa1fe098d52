"""Amazon Bedrock through the Converse API: one request shape for Claude, Nova, Llama, Mistral.

``model`` is a foundation model id, an inference profile id/ARN, or a Prompt Management
prompt version ARN (``arn:aws:bedrock:<region>:<account>:prompt/<id>:<version>``). For a
managed prompt, Converse takes the ARN as ``modelId`` plus ``promptVariables`` and refuses
``system``/``inferenceConfig`` (they live in the managed prompt); later turns (a JSON
validation error fed back) are appended as ``messages``.
"""

from __future__ import annotations

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
            params["system"] = [{"text": request.system}]
        return params

    def complete(self, request: CompletionRequest) -> Completion:
        try:
            response = self._client.converse(**self.converse_request(request))
        except ClientError as exc:
            raise map_bedrock_error(exc) from exc
        except (ConnectionError, ConnectTimeoutError, ReadTimeoutError) as exc:
            raise TransientError(f"Bedrock unreachable: {exc}") from exc
        content = response.get("output", {}).get("message", {}).get("content", [])
        text = "".join(block.get("text", "") for block in content)
        usage = response.get("usage", {})
        return Completion(
            text=text,
            input_tokens=int(usage.get("inputTokens", 0)),
            output_tokens=int(usage.get("outputTokens", 0)),
            stop_reason=str(response.get("stopReason", "end_turn")),
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
