"""The studio's safety model, as one ASGI middleware in front of every route.

* **A per-launch token** (as notebook servers do): the URL printed at start carries
  ``?token=…``; the first visit turns it into an HttpOnly, SameSite=Strict cookie and
  redirects to the same page without it, so it leaves the address bar and the history. A
  request with neither a valid cookie nor a valid token gets 403.
* **CSRF** on every state-changing request: a POST must carry the CSRF token (derived from
  the launch token, never the token itself) as the ``csrf_token`` form field or the
  ``X-CSRF-Token`` header, and must not come from another site (``Sec-Fetch-Site``,
  ``Origin``). A form of another site cannot read the token, so it cannot send it.
* **Host check**: only ``127.0.0.1``/``localhost`` with the studio's port are answered, so a
  DNS-rebinding page cannot talk to the studio under a name of its own.

Nothing here does I/O; :class:`Guard` holds the secrets of one launch.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE_NAME = "podpipe_studio"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
TOKEN_PARAMETER = "token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = ("127.0.0.1", "localhost")
# What every page is sent with: no framing, no sniffing, no referrer to other sites (URLs carry
# presigned signatures), and scripts only from the studio itself (htmx is a vendored static file).
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: http: https:; "
        "media-src 'self' http: https:; connect-src 'self'; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'; object-src 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Guard:
    """The secrets of one launch and the pure checks over them."""

    token: str = field(default_factory=new_token, repr=False)
    port: int = 0

    @property
    def csrf_token(self) -> str:
        return hmac.new(self.token.encode(), b"podpipe-studio-csrf", hashlib.sha256).hexdigest()

    def valid_token(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate, self.token)

    def valid_csrf(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate, self.csrf_token)

    def allowed_host(self, host: str | None) -> bool:
        if not host:
            return False
        name, _, port = host.rpartition(":")
        if not name:
            name, port = host, ""
        if name not in LOOPBACK_NAMES:
            return False
        return self.port == 0 or port == str(self.port)

    def same_site(self, headers: Headers) -> bool:
        """A POST from one of the studio's own pages. Browsers say where a request comes
        from in ``Sec-Fetch-Site``; without it (older or non-browser clients) the ``Origin``,
        when there is one, must be the studio's. The CSRF token is required either way."""
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None:
            return fetch_site in {"same-origin", "none"}
        origin = headers.get("origin")
        if origin is None:
            return True
        scheme, _, host = origin.partition("://")
        return scheme == "http" and self.allowed_host(host)

    def url(self, host: str, port: int, path: str = "/") -> str:
        return f"http://{host}:{port}{path}?{urlencode({TOKEN_PARAMETER: self.token})}"


def _cookie(headers: Headers) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed cookie header is just "no cookie"
        return None
    morsel = jar.get(COOKIE_NAME)
    return None if morsel is None else morsel.value


async def _plain(send: Send, status: int, text: str, extra: dict[str, str] | None = None) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    headers += [(k.encode(), v.encode()) for k, v in {**SECURITY_HEADERS, **(extra or {})}.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text.encode()})


class GuardMiddleware:
    """Token, host and CSRF checks before any route runs; security headers on every answer.

    The CSRF check of a form POST reads the body once and replays it to the route, so the
    routes parse forms as usual.
    """

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        guard = self.guard
        if not guard.allowed_host(headers.get("host")):
            await _plain(send, 403, "403: the studio answers only on 127.0.0.1 / localhost")
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        has_cookie = guard.valid_token(_cookie(headers))
        if not has_cookie:
            if scope["method"] in SAFE_METHODS and guard.valid_token(query.get(TOKEN_PARAMETER)):
                # First visit: token → cookie, and the token leaves the URL.
                rest = urlencode([(k, v) for k, v in query.items() if k != TOKEN_PARAMETER])
                # Same-site only: "//host/..." would be read as another site's address.
                path = "/" + scope["path"].lstrip("/")
                location = path + (f"?{rest}" if rest else "")
                cookie = f"{COOKIE_NAME}={guard.token}; HttpOnly; SameSite=Strict; Path=/"
                await _plain(send, 303, "see other", {"location": location, "set-cookie": cookie})
                return
            await _plain(
                send,
                403,
                "403: open the studio with the URL `podpipe studio` printed (it carries the token)",
            )
            return
        if scope["method"] not in SAFE_METHODS:
            if not guard.same_site(headers):
                await _plain(send, 403, "403: cross-site request refused")
                return
            checked = await self._check_csrf(scope, receive, send, headers)
            if checked is None:
                return
            receive = checked
        await self.app(scope, receive, self._with_headers(send))

    async def _check_csrf(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers
    ) -> Receive | None:
        if self.guard.valid_csrf(headers.get(CSRF_HEADER)):
            return receive
        content_type = headers.get("content-type", "")
        if not content_type.startswith("application/x-www-form-urlencoded"):
            # Multipart (uploads) and everything else must use the header: no body buffering.
            await _plain(send, 403, "403: missing or wrong CSRF token")
            return None
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > 1_000_000:
                await _plain(send, 413, "413: form too large")
                return None
        fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if not self.guard.valid_csrf(fields.get(CSRF_FIELD)):
            await _plain(send, 403, "403: missing or wrong CSRF token")
            return None
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

    def _with_headers(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                existing = {k.lower() for k, _ in message.get("headers", [])}
                extra = [
                    (k.encode(), v.encode())
                    for k, v in SECURITY_HEADERS.items()
                    if k.encode() not in existing
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return wrapped
