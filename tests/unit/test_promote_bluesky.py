"""The Bluesky adapter over a fake atproto client: video embed, link-card fallback, errors
classified as refused / unavailable, and the app password never shown."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from atproto_client.exceptions import RequestException
from atproto_client.models.blob_ref import BlobRef
from atproto_client.models.common import XrpcError
from pydantic import SecretStr

from podpipe_promote.posting import (
    BlueskyCredentials,
    BlueskyPoster,
    CredentialsError,
    PostRefusedError,
    PostRequest,
    PostUnavailableError,
    record_key_for,
    resolve_bluesky_credentials,
)

PASSWORD = "abcd-efgh-ijkl-mnop"


@dataclass
class Response:
    status_code: int
    content: XrpcError


class SdkError(RequestException):
    def __init__(self, status: int, error: str = "x") -> None:
        content = XrpcError(error=error, message=f"password {PASSWORD}")
        super().__init__(Response(status, content))  # type: ignore[arg-type]


class FakeClient:
    """The SDK's surface the adapter uses; records are kept by record key, like a repo."""

    def __init__(
        self,
        *,
        video_status: int | None = None,
        post_status: int | None = None,
        session_did: str | None = "did:plc:abc",
        taken_key_status: int = 500,
    ) -> None:
        self.video_status = video_status
        self.post_status = post_status
        self.session_did = session_did
        self.taken_key_status = taken_key_status
        self.logins: list[tuple[str, str, bool]] = []
        self.records: dict[str, dict[str, Any]] = {}
        self.creates = 0
        self.me = None
        # client.app.bsky.feed.post.{create,get}, client.com.atproto.server.get_session
        self.app = SimpleNamespace(
            bsky=SimpleNamespace(
                feed=SimpleNamespace(post=SimpleNamespace(create=self._create, get=self._get))
            )
        )
        self.com = SimpleNamespace(
            atproto=SimpleNamespace(
                server=SimpleNamespace(get_session=lambda: SimpleNamespace(did="did:plc:abc"))
            )
        )

    @property
    def posts(self) -> list[dict[str, Any]]:
        return list(self.records.values())

    def login(self, handle: str, password: str, *, fetch_bsky_profile: bool) -> Any:
        self.logins.append((handle, password, fetch_bsky_profile))
        # The real SDK returns the profile (None without fetching it), not the session.
        return SimpleNamespace(did=self.session_did) if self.session_did else None

    def get_current_time_iso(self) -> str:
        return "2026-12-03T06:00:00.000Z"

    def upload_blob(self, data: bytes) -> Any:
        if self.video_status:
            raise SdkError(self.video_status)
        blob = BlobRef(mime_type="video/mp4", size=len(data), ref="bafkreifake")
        return SimpleNamespace(blob=blob)

    def _create(self, repo: str, record: Any, rkey: str | None = None) -> Any:
        self.creates += 1
        if self.post_status:
            raise SdkError(self.post_status)
        key = rkey or f"auto{len(self.records) + 1}"
        if key in self.records:
            raise SdkError(self.taken_key_status, "InternalServerError")
        self.records[key] = {
            "text": record.text,
            "facets": record.facets,
            "embed": record.embed,
            "repo": repo,
            "rkey": rkey,
        }
        return SimpleNamespace(uri=f"at://{repo}/app.bsky.feed.post/{key}")

    def _get(self, repo: str, rkey: str) -> Any:
        if rkey not in self.records:
            raise SdkError(400, "RecordNotFound")
        found = self.records[rkey]
        return SimpleNamespace(
            uri=f"at://{repo}/app.bsky.feed.post/{rkey}",
            value=SimpleNamespace(text=found["text"], embed=found["embed"]),
        )


def poster(client: FakeClient) -> BlueskyPoster:
    credentials = BlueskyCredentials("host.test", SecretStr(PASSWORD))
    return BlueskyPoster(
        credentials, service_url="http://127.0.0.1:2583", client_factory=lambda _: client
    )


REQUEST = PostRequest(
    text="New episode!", link="https://cdn.example.org/e/1", link_title="New", video=b"mp4"
)


def test_posts_the_clip_as_a_video_embed_as_the_account() -> None:
    client = FakeClient()
    result = poster(client).post(REQUEST)
    assert result.uri == "at://did:plc:abc/app.bsky.feed.post/auto1"
    assert result.with_video
    (post,) = client.posts
    assert post["embed"].py_type == "app.bsky.embed.video"
    assert post["repo"] == "did:plc:abc"
    assert client.logins == [("host.test", PASSWORD, False)]


def test_the_episode_link_is_a_clickable_link_facet_over_its_utf8_bytes() -> None:
    link = "https://cdn.example.org/show/episodes/ep1/audio.mp3"
    text = f"Queues, not sleeps — café edition 🎙️ (see https://example.org/notes).\n{link}"
    client = FakeClient()
    poster(client).post(PostRequest(text=text, link=link, link_title="t", video=b"mp4"))
    (post,) = client.posts
    assert post["text"] == text
    encoded = text.encode()
    linked = [
        (encoded[f.index.byte_start : f.index.byte_end].decode(), f.features[0].uri)
        for f in post["facets"]
    ]
    assert linked == [("https://example.org/notes", "https://example.org/notes"), (link, link)]
    assert all(f.features[0].py_type == "app.bsky.richtext.facet#link" for f in post["facets"])


def test_a_url_cut_by_the_limit_gets_no_facet() -> None:
    client = FakeClient()
    poster(client).post(
        PostRequest(text="Read https://example.org/a-very-lo…", link="x", link_title="t")
    )
    (post,) = client.posts
    assert post["facets"] is None


def test_a_refused_video_falls_back_to_a_link_card() -> None:
    client = FakeClient(video_status=413)
    result = poster(client).post(REQUEST)
    assert not result.with_video
    (post,) = client.posts
    assert post["embed"].py_type == "app.bsky.embed.external"
    assert post["embed"].external.uri == "https://cdn.example.org/e/1"


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, PostRefusedError), (429, PostUnavailableError), (503, PostUnavailableError)],
)
def test_errors_are_classified_and_never_carry_the_password(
    status: int, kind: type[Exception]
) -> None:
    the_poster = poster(FakeClient(post_status=status))
    with pytest.raises(kind) as caught:
        the_poster.post(REQUEST)
    assert PASSWORD not in str(caught.value)
    assert caught.value.__cause__ is None
    assert PASSWORD not in repr(the_poster)


AT = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)
KEYED = PostRequest(
    text="New episode!",
    link="https://cdn.example.org/e/1",
    link_title="New",
    video=b"mp4",
    idempotency_key="2026-12-01-ep7/1-bluesky",
    scheduled_for=AT,
)
TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


def test_the_did_comes_from_the_session_when_login_returns_no_profile() -> None:
    # atproto's login(fetch_bsky_profile=False) returns None and leaves `me` unset.
    client = FakeClient(session_did=None)
    poster(client).post(REQUEST)
    (post,) = client.posts
    assert post["repo"] == "did:plc:abc"


def test_record_keys_are_valid_tids_stable_per_item_and_time() -> None:
    key = record_key_for(AT, "2026-12-01-ep7/1-bluesky")
    assert TID.match(key)
    assert key == record_key_for(AT, "2026-12-01-ep7/1-bluesky")
    assert key != record_key_for(AT, "2026-12-01-ep7/2-bluesky")
    assert key != record_key_for(AT + timedelta(days=1), "2026-12-01-ep7/1-bluesky")
    # Sortable like any TID: a later scheduled second sorts after.
    assert record_key_for(AT + timedelta(seconds=1), "a") > record_key_for(AT, "b")
    # The 53-bit microsecond timestamp decodes to the scheduled second.
    value = 0
    for char in key:
        value = value * 32 + "234567abcdefghijklmnopqrstuvwxyz".index(char)
    assert (value >> 10) // 1_000_000 == int(AT.timestamp())


def test_a_keyed_post_is_created_under_its_record_key() -> None:
    client = FakeClient()
    result = poster(client).post(KEYED)
    rkey = record_key_for(AT, KEYED.idempotency_key)
    assert result.uri == f"at://did:plc:abc/app.bsky.feed.post/{rkey}"
    assert [p["rkey"] for p in client.posts] == [rkey]


def test_a_second_delivery_finds_the_post_and_posts_nothing() -> None:
    # A crash after the post, before the desk's "posted" marker: the next delivery (a fresh
    # process, a fresh adapter) must take the existing record as the post.
    client = FakeClient()
    first = poster(client).post(KEYED)
    again = poster(client).post(KEYED)
    assert again == first
    assert again.with_video
    assert client.creates == 1
    assert len(client.posts) == 1


def test_a_create_that_lost_a_race_returns_the_post_made_meanwhile() -> None:
    client = FakeClient()
    the_poster = poster(client)
    rkey = record_key_for(AT, KEYED.idempotency_key)
    real_get = client._get
    lookups = 0

    def get_after_the_race(repo: str, key: str) -> Any:
        nonlocal lookups
        lookups += 1
        if lookups == 1:  # the look-up before posting: not there yet, then another worker posts
            client.records[rkey] = {"text": KEYED.text, "embed": None, "repo": repo, "rkey": rkey}
            raise SdkError(400, "RecordNotFound")
        return real_get(repo, key)

    client.app.bsky.feed.post.get = get_after_the_race
    result = the_poster.post(KEYED)
    assert result.uri.endswith(rkey)
    assert len(client.posts) == 1


def test_a_refusal_names_the_xrpc_error_but_not_its_message() -> None:
    class TooLong(FakeClient):
        def _create(self, repo: str, record: Any, rkey: str | None = None) -> Any:
            raise SdkError(400, "InvalidRequest")

    with pytest.raises(PostRefusedError) as caught:
        poster(TooLong()).post(KEYED)
    assert "InvalidRequest 400" in caught.value.reason
    assert PASSWORD not in str(caught.value)


class Secrets:
    def __init__(self, value: str) -> None:
        self.value = value

    def get_secret_value(self, SecretId: str) -> dict[str, str]:  # noqa: N803 (boto3 spelling)
        return {"SecretString": self.value}


def test_credentials_come_from_secrets_manager() -> None:
    found = resolve_bluesky_credentials(
        handle="",
        app_password=None,
        secret_id="podpipe/bluesky",
        ssm_parameter="",
        secretsmanager=lambda: Secrets(json.dumps({"handle": "h.test", "app_password": PASSWORD})),
        ssm=lambda: pytest.fail("SSM is not used when the secret is set"),
    )
    assert found is not None
    assert found.handle == "h.test"
    assert found.app_password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(found)
    with pytest.raises(CredentialsError) as caught:
        resolve_bluesky_credentials(
            handle="h.test",
            app_password=None,
            secret_id="s",
            ssm_parameter="",
            secretsmanager=lambda: Secrets(PASSWORD),  # not JSON
            ssm=lambda: None,
        )
    assert PASSWORD not in str(caught.value)
    assert (
        resolve_bluesky_credentials(
            handle="",
            app_password=None,
            secret_id="",
            ssm_parameter="",
            secretsmanager=lambda: None,
            ssm=lambda: None,
        )
        is None
    )
