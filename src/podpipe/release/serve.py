"""Serve the bucket's ``public/`` prefix over HTTP on the loopback interface (the laptop's
stand-in for CloudFront), so a podcast app on the same machine can subscribe to the feed.

Only ``public/`` is reachable (``/<show>/feed.xml`` → ``public/<show>/feed.xml``), only GET and
HEAD, and only on 127.0.0.1: the server refuses any other address. Range requests are passed
to S3, so apps can seek in the MP3.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import structlog
from botocore.exceptions import ClientError

from podpipe.release.model import PUBLIC_PREFIX
from podpipe.s3io import is_missing

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = structlog.get_logger()
LOOPBACK = "127.0.0.1"


class NotLoopbackError(ValueError):
    """The public files are served on 127.0.0.1 only."""


def public_key(path: str) -> str | None:
    """The S3 key a request path maps to, or None for anything outside public/ (pure)."""
    clean = unquote(urlsplit(path).path)
    parts = [p for p in clean.split("/") if p]
    if not parts or any(p in {".", ".."} or "\\" in p for p in parts):
        return None
    return PUBLIC_PREFIX + "/".join(parts)


def _handler(s3: S3Client, bucket: str) -> type[BaseHTTPRequestHandler]:
    class PublicFiles(BaseHTTPRequestHandler):
        server_version = "podpipe-feed"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("feed.request", line=format % args)

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, *, body: bool) -> None:
            key = public_key(self.path)
            if key is None:
                self.send_error(404)
                return
            params: dict[str, Any] = {"Bucket": bucket, "Key": key}
            wanted = self.headers.get("Range")
            if wanted:
                params["Range"] = wanted
            try:
                reply = s3.get_object(**params) if body else s3.head_object(**params)
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code"))
                if is_missing(exc):
                    self.send_error(404)
                elif code in {"InvalidRange", "416"}:
                    self.send_error(416)
                else:
                    self.send_error(502, code)
                return
            partial = bool(wanted) and "ContentRange" in reply
            self.send_response(206 if partial else 200)
            self.send_header("Content-Type", reply.get("ContentType") or "application/octet-stream")
            self.send_header("Content-Length", str(reply["ContentLength"]))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", reply.get("ETag", ""))
            if partial:
                self.send_header("Content-Range", reply["ContentRange"])
            if reply.get("CacheControl"):
                self.send_header("Cache-Control", reply["CacheControl"])
            self.end_headers()
            if body:
                stream = reply["Body"]  # type: ignore[typeddict-item]
                for chunk in iter(lambda: stream.read(64 * 1024), b""):
                    self.wfile.write(chunk)

    return PublicFiles


def make_server(
    s3: S3Client, bucket: str, *, host: str = LOOPBACK, port: int = 0
) -> ThreadingHTTPServer:
    """An HTTP server for public/ (port 0: any free port; ``server.server_port`` says which)."""
    if not ipaddress.ip_address(host).is_loopback:
        raise NotLoopbackError(f"refusing to serve the public files on {host}: use 127.0.0.1")
    server = ThreadingHTTPServer((host, port), _handler(s3, bucket))
    server.daemon_threads = True
    return server


@contextmanager
def serving(s3: S3Client, bucket: str, *, port: int = 0) -> Iterator[str]:
    """Serve in a background thread for the duration of the block; yields the base URL."""
    server = make_server(s3, bucket, port=port)
    thread = threading.Thread(target=server.serve_forever, name="feed-server", daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
