"""The recorded feeds and article pages of tests/fixtures/prep, served over real HTTP.

A ThreadingHTTPServer on 127.0.0.1 (random port) serves every route of routes.json under
``/<host><path>``; the httpx client handed to prep's fetcher carries a transport that sends
``https://aws.amazon.com/...`` there instead of to the internet. So prep fetches, follows and
parses real HTTP responses, and the brief keeps the articles' real URLs.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from podpipe_llm.prep.fetch import HttpFetcher
from podpipe_llm.prep.models import FeedSource, PrepConfig

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "prep"
AUDIENCE = (
    "Engineers and engineering managers who build and run applications on AWS: serverless "
    "functions, databases, storage, queues, events and what it all costs."
)
FEEDS = [
    FeedSource(
        name="AWS What's New", url="https://aws.amazon.com/about-aws/whats-new/recent/feed/"
    ),  # type: ignore[arg-type]
    FeedSource(name="AWS News Blog", url="https://aws.amazon.com/blogs/aws/feed/atom/"),  # type: ignore[arg-type]
    FeedSource(name="Cloud Trade Weekly", url="https://www.cloudtrade-weekly.example/feed.xml"),  # type: ignore[arg-type]
    FeedSource(name="Community Roundup", url="https://community-roundup.example/feed/"),  # type: ignore[arg-type]
]
# Not in the default configuration: an ISO-8859-1 feed with unusable entries (malformed,
# missing links and titles) next to two readable pages that are not UTF-8.
COMMUNITY_LINKS = FeedSource(name="Community Links", url="https://community-links.example/feed.rss")  # type: ignore[arg-type]


def route_key(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.hostname}{parts.path.rstrip('/')}"


def config(**overrides: Any) -> PrepConfig:
    values: dict[str, Any] = {
        "show": "Cloud Weekly",
        "audience": AUDIENCE,
        "feeds": [f.model_dump(mode="json") for f in FEEDS],
        "max_items": 8,
    }
    values.update(overrides)
    return PrepConfig.model_validate(values)


@dataclass
class PrepSite:
    port: int
    requests: list[str] = field(default_factory=list)

    def transport(self) -> httpx.BaseTransport:
        return _ToLocalSite(self.port)

    def fetcher(self) -> HttpFetcher:
        return HttpFetcher(
            httpx.Client(transport=self.transport(), follow_redirects=True, timeout=10.0)
        )


class _ToLocalSite(httpx.BaseTransport):
    def __init__(self, port: int) -> None:
        self._port = port
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        local = httpx.URL(
            f"http://127.0.0.1:{self._port}/{url.host}{url.path}",
            query=url.query,
        )
        forwarded = httpx.Request(request.method, local, headers=request.headers)
        response = self._inner.handle_request(forwarded)
        response.request = request
        return response


@contextmanager
def prep_site() -> Iterator[PrepSite]:
    routes = {
        route_key(url): spec
        for url, spec in json.loads((FIXTURES / "routes.json").read_text()).items()
    }
    site: PrepSite

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = urllib.parse.urlsplit(self.path).path.lstrip("/").rstrip("/")
            site.requests.append(path)
            spec = routes.get(path)
            if spec is None or "file" not in spec:
                status = int(spec.get("status", 404)) if spec else 404
                self.send_response(status)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(f"<html><body><h1>{status}</h1></body></html>".encode())
                return
            body = (FIXTURES / spec["file"]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", spec.get("type", "text/html"))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site = PrepSite(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
