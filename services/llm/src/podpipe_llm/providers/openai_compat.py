"""Any OpenAI-compatible chat completions endpoint: llama.cpp server, Ollama, vLLM, LiteLLM.

The episode's shared prefix goes first as the system message, the task last, so servers
with a prefix cache (llama.cpp's ``cache_prompt``, vLLM's prefix caching) process the
transcript once per episode. JSON prompts send their JSON Schema as
``response_format: {"type": "json_schema", ...}``; llama.cpp turns it into a grammar, so even
a small model answers valid JSON. Servers that only know ``json_object`` ignore the schema
or are asked for ``json_object`` (``PODPIPE_LLM_OPENAI_JSON_SCHEMA=false``).
"""

from __future__ import annotations

from typing import Any

import httpx

from podpipe_llm.providers.base import (
    Completion,
    CompletionRequest,
    ContextTooLongError,
    RefusedError,
    ThrottledError,
    TransientError,
    estimate_tokens,
)


class OpenAICompatibleProvider:
    name = "openai"
    rate_limited = True
    needs_context_budget = True

    def __init__(
        self,
        client: httpx.Client,
        base_url: str,
        api_key: str = "",
        *,
        json_schema: bool = True,
        seed: int | None = None,
    ) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._json_schema = json_schema
        self._seed = seed

    def payload(self, request: CompletionRequest) -> dict[str, Any]:
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages += [{"role": m.role, "content": m.text} for m in request.messages]
        body: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if self._seed is not None:
            body["seed"] = self._seed
        if request.task.output_format == "json" and request.task.stage == "final":
            if request.json_schema is not None and self._json_schema:
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {
                        "name": request.task.schema_name or "answer",
                        "schema": request.json_schema,
                        "strict": True,
                    },
                }
            else:
                body["response_format"] = {"type": "json_object"}
        return body

    def complete(self, request: CompletionRequest) -> Completion:
        try:
            response = self._client.post(
                self._url, json=self.payload(request), headers=self._headers
            )
        except httpx.TimeoutException as exc:
            raise TransientError(f"{self._url} timed out: {exc}") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"{self._url} unreachable: {exc}") from exc
        if response.status_code >= 400:
            raise _map_status(response)
        try:
            data = response.json()
            text = data["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise TransientError(f"unexpected answer from {self._url}: {exc!r}") from exc
        usage = data.get("usage") or {}
        prompt_text = "".join(m.text for m in request.messages) + request.system
        details = usage.get("prompt_tokens_details") or {}
        return Completion(
            text=text,
            input_tokens=int(usage.get("prompt_tokens") or estimate_tokens(prompt_text)),
            output_tokens=int(usage.get("completion_tokens") or estimate_tokens(text)),
            stop_reason=str(data["choices"][0].get("finish_reason") or "stop"),
            cached_input_tokens=int(details.get("cached_tokens") or 0),
        )


def _map_status(response: httpx.Response) -> Exception:
    detail = response.text[:300]
    message = f"HTTP {response.status_code} from {response.request.url}: {detail}"
    if response.status_code == 429:
        retry_after = response.headers.get("retry-after")
        try:
            seconds = float(retry_after) if retry_after else None
        except ValueError:
            seconds = None
        return ThrottledError(message, retry_after=seconds)
    if response.status_code in {408, 409} or response.status_code >= 500:
        return TransientError(message)
    if "context" in detail.lower() and ("length" in detail.lower() or "long" in detail.lower()):
        return ContextTooLongError(message)
    return RefusedError(message)
