"""The Poster port and its first adapter, Bluesky (the ``atproto`` SDK).

An adapter raises :class:`PostRefusedError` when the network said no for good (too-long
text, video too large, bad credentials) and :class:`PostUnavailableError` when trying again
later may help (down, rate-limited); the desk retries the second kind with backoff inside the
message, and the handler has the runtime redeliver both kinds with backoff before the message
goes to the promote DLQ. The app password is a credential: it lives in a
``SecretStr``, never in a log line or an exception message.

A post made twice would be seen twice, so the Bluesky adapter makes posting idempotent on the
PDS itself: a request with an idempotency key gets a record key derived from it
(:func:`record_key_for`, a valid TID), the adapter looks that record up before posting and
takes an existing one as already posted. A crash after the post but before the desk's "posted"
marker therefore posts nothing the second time.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import structlog
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr

log = structlog.get_logger()


class PostError(Exception):
    def __init__(self, network: str, reason: str) -> None:
        super().__init__(f"{network}: {reason}")
        self.network = network
        self.reason = reason


class PostRefusedError(PostError):
    """The network refused the post; retrying the same post cannot help."""


class PostUnavailableError(PostError):
    """The network is down or rate-limited: worth another attempt later."""


class CredentialsError(ValueError):
    """The credentials could not be resolved (the message never contains them)."""


@dataclass(frozen=True)
class PostRequest:
    text: str
    link: str
    link_title: str
    video: bytes | None = None
    video_alt: str = ""
    # The same key and time on a second delivery name the same post (e.g. "<episode>/<item>").
    idempotency_key: str = ""
    scheduled_for: datetime | None = None


@dataclass(frozen=True)
class PostResult:
    uri: str
    with_video: bool


class Poster(Protocol):
    network: str

    def post(self, request: PostRequest) -> PostResult: ...


@dataclass(frozen=True)
class BlueskyCredentials:
    handle: str
    app_password: SecretStr

    def __repr__(self) -> str:
        return f"BlueskyCredentials(handle={self.handle!r}, app_password=***)"


class BlueskyPoster:
    """Posts through a PDS with an app password; the clip is a video embed, or a link card
    when the PDS refuses the video (too large, unsupported) or there is none."""

    network = "bluesky"

    def __init__(
        self,
        credentials: BlueskyCredentials,
        *,
        service_url: str = "https://bsky.social",
        client_factory: Callable[[str], Any] | None = None,
    ) -> None:
        self._credentials = credentials
        self._service_url = service_url
        self._client_factory = client_factory or _atproto_client
        self._client: Any = None
        self._did = ""

    def __repr__(self) -> str:
        return f"BlueskyPoster(handle={self._credentials.handle!r})"

    def _login(self) -> Any:
        if self._client is None:
            client = self._client_factory(self._service_url)
            try:
                session = client.login(
                    self._credentials.handle,
                    self._credentials.app_password.get_secret_value(),
                    fetch_bsky_profile=False,  # a PDS without an AppView has no profile
                )
            except _sdk_errors() as exc:
                raise _classified(exc, "login failed") from None
            # With fetch_bsky_profile=False the SDK returns no profile and leaves `me` unset: the
            # DID comes from the session (without it send_post has no repo to write to).
            did = str(getattr(session, "did", "") or getattr(client.me, "did", "") or "")
            if not did:
                try:
                    did = str(client.com.atproto.server.get_session().did)
                except _sdk_errors() as exc:
                    raise _classified(exc, "session lookup failed") from None
            self._did = did
            self._client = client
        return self._client

    def _existing(self, client: Any, rkey: str) -> PostResult | None:
        """The post already made under ``rkey`` (an earlier delivery), or None."""
        try:
            found = client.app.bsky.feed.post.get(self._did, rkey)
        except _sdk_errors() as exc:
            if _xrpc_error(exc) == "RecordNotFound":
                return None
            raise _classified(exc, "post lookup failed") from None
        embed = getattr(getattr(found, "value", None), "embed", None)
        with_video = getattr(embed, "py_type", None) == "app.bsky.embed.video"
        return PostResult(uri=str(found.uri), with_video=with_video)

    def post(self, request: PostRequest) -> PostResult:
        from atproto import models

        client = self._login()
        rkey = record_key(request)
        if rkey is not None:
            already = self._existing(client, rkey)
            if already is not None:
                log.info("promote.already_posted", network=self.network, uri=already.uri)
                return already
        embed: Any = None
        with_video = False
        if request.video:
            try:
                blob = client.upload_blob(request.video)
            except _sdk_errors() as exc:
                error = _classified(exc, "video upload failed")
                if isinstance(error, PostUnavailableError):
                    raise error from None
                log.warning("promote.video_refused", network=self.network, reason=error.reason)
            else:
                embed = models.AppBskyEmbedVideo.Main(
                    video=blob.blob, alt=request.video_alt[:1000] or None
                )
                with_video = True
        if embed is None:
            embed = models.AppBskyEmbedExternal.Main(
                external=models.AppBskyEmbedExternal.External(
                    uri=request.link, title=request.link_title[:300], description=""
                )
            )
        text, facets = rich_text(request.text)
        record = models.AppBskyFeedPost.Record(
            created_at=client.get_current_time_iso(),
            text=text,
            facets=facets or None,
            embed=embed,
            langs=["en"],
        )
        try:
            reply = client.app.bsky.feed.post.create(self._did, record, rkey=rkey)
        except _sdk_errors() as exc:
            # A PDS answers a create on a taken record key with a 500: look before calling it
            # unavailable (another delivery may have just made it).
            already = self._existing(client, rkey) if rkey is not None else None
            if already is not None:
                return already
            raise _classified(exc, "post failed") from None
        return PostResult(uri=str(reply.uri), with_video=with_video)


URL = re.compile(r"https?://\S+")
URL_TRAILING = ".,;:!?)]}'\""


def rich_text(text: str) -> tuple[str, list[Any]]:
    """The post's text and a link facet over every URL in it, the episode link among them.

    Bluesky shows a URL without a link facet as plain, unclickable text, and a post with a
    video embed has no link card: without the facet the post would not link to the episode.
    Facets index UTF-8 bytes, which the SDK's TextBuilder counts. A URL cut short by the
    network's limit (ending in "…") gets no facet: it would point nowhere.
    """
    from atproto import client_utils

    builder = client_utils.TextBuilder()
    position = 0
    for match in URL.finditer(text):
        url = match.group().rstrip(URL_TRAILING)
        if url.endswith("…"):
            continue
        builder.text(text[position : match.start()])
        builder.link(url, url)
        position = match.start() + len(url)
    builder.text(text[position:])
    return builder.build_text(), builder.build_facets()


TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


def record_key_for(scheduled_for: datetime, key: str) -> str:
    """A valid atproto TID for one planned post (pure): stable for the same key and time.

    A TID is 64 bits, base32-sortable in 13 characters: a zero bit, 53 bits of microseconds
    since the epoch, 10 bits of clock id. The second of the post's scheduled time keeps posts in
    time order; the microseconds within that second and the clock id come from a hash of the
    key, so two items scheduled for the same second still get different keys.
    """
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    micros = math.floor(scheduled_for.timestamp()) * 1_000_000 + digest % 1_000_000
    clock_id = (digest >> 20) & 0x3FF
    value = ((micros & ((1 << 53) - 1)) << 10) | clock_id
    return "".join(TID_ALPHABET[(value >> (5 * shift)) & 31] for shift in range(12, -1, -1))


def record_key(request: PostRequest) -> str | None:
    if not request.idempotency_key or request.scheduled_for is None:
        return None
    return record_key_for(request.scheduled_for, request.idempotency_key)


def _atproto_client(service_url: str) -> Any:
    from atproto import Client

    return Client(base_url=service_url.rstrip("/") + "/xrpc")


def _sdk_errors() -> tuple[type[Exception], ...]:
    """What the SDK raises for a request that failed (a bug in podpipe is not among them)."""
    from atproto_client.exceptions import AtProtocolError  # transport errors too (NetworkError)

    return (AtProtocolError,)


def _xrpc_error(exc: Exception) -> str:
    """The XRPC error name of a failed request (e.g. "InvalidRequest"), or ""."""
    content = getattr(getattr(exc, "response", None), "content", None)
    name = getattr(content, "error", None)
    return name if isinstance(name, str) and name.isidentifier() else ""


def _classified(exc: Exception, what: str) -> PostError:
    """Map an SDK error to refused/unavailable, without its message (it may echo a request):
    only the status and the XRPC error name, a fixed identifier."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    name = " ".join(part for part in (type(exc).__name__, _xrpc_error(exc)) if part)
    if status is None or status == 429 or (isinstance(status, int) and status >= 500):
        return PostUnavailableError("bluesky", f"{what}: {name} {status or ''}".strip())
    return PostRefusedError("bluesky", f"{what}: {name} {status}")


def resolve_bluesky_credentials(
    *,
    handle: str,
    app_password: SecretStr | None,
    secret_id: str,
    ssm_parameter: str,
    secretsmanager: Callable[[], Any],
    ssm: Callable[[], Any],
) -> BlueskyCredentials | None:
    """Handle + app password from the settings, Secrets Manager or SSM (in that order).

    The secret / parameter holds JSON ``{"handle": ..., "app_password": ...}``; called once at
    start-up, the clients are factories so nothing is built when unused.
    """
    if app_password is not None and app_password.get_secret_value():
        if not handle:
            raise CredentialsError("PODPIPE_BLUESKY_APP_PASSWORD is set but not the handle")
        return BlueskyCredentials(handle, app_password)
    raw: str | None = None
    if secret_id:
        try:
            raw = secretsmanager().get_secret_value(SecretId=secret_id).get("SecretString", "")
        except (ClientError, BotoCoreError) as exc:
            raise CredentialsError(
                f"cannot read Secrets Manager secret {secret_id!r}: {type(exc).__name__}"
            ) from None
    elif ssm_parameter:
        try:
            reply = ssm().get_parameter(Name=ssm_parameter, WithDecryption=True)
        except (ClientError, BotoCoreError) as exc:
            raise CredentialsError(
                f"cannot read SSM parameter {ssm_parameter!r}: {type(exc).__name__}"
            ) from None
        raw = str(reply["Parameter"]["Value"])
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        raise CredentialsError("the Bluesky secret is not JSON {handle, app_password}") from None
    if not isinstance(data, dict) or not data.get("app_password"):
        raise CredentialsError("the Bluesky secret has no app_password")
    return BlueskyCredentials(
        str(data.get("handle") or handle), SecretStr(str(data["app_password"]))
    )
