"""The HTTP port prep reads feeds and articles through, and its httpx adapter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

USER_AGENT = "podpipe-prep/0.1 (+https://github.com/podpipe; the show's weekly brief)"
MAX_BODY_BYTES = 5_000_000


class FetchError(Exception):
    """The resource could not be fetched at all (network, timeout, too large, a URL that
    no request can be made for)."""


@dataclass(frozen=True)
class Fetched:
    url: str
    status: int
    content_type: str
    body: bytes


class Fetcher(Protocol):
    def get(self, url: str) -> Fetched: ...


class HttpFetcher:
    """GET with redirects followed; an HTTP error status is returned, not raised (the caller
    reports it), a network failure is a FetchError."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    @classmethod
    def create(cls, timeout_seconds: float) -> HttpFetcher:
        return cls(
            httpx.Client(
                timeout=timeout_seconds,
                follow_redirects=True,
                headers={"User-Agent": USER_AGENT},
            )
        )

    def get(self, url: str) -> Fetched:
        try:
            response = self._client.get(url)
        # Not all of httpx's refusals are HTTPErrors: InvalidURL (a control character, a bad
        # port) is not, nor is the UnicodeError (a ValueError) of a host idna cannot encode.
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}"[:300]) from exc
        if len(response.content) > MAX_BODY_BYTES:
            raise FetchError(f"the response is larger than {MAX_BODY_BYTES} bytes")
        return Fetched(
            url=str(response.url),
            status=response.status_code,
            content_type=response.headers.get("content-type", ""),
            body=response.content,
        )
