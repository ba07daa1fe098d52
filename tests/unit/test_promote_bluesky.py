"""The Bluesky adapter over a fake atproto client: video embed, link-card fallback, errors
classified as refused / unavailable, and the app password never shown."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from atproto_client.exceptions import RequestException
from atproto_client.models.blob_ref import BlobRef
from pydantic import SecretStr

from podpipe_promote.posting import (
    BlueskyCredentials,
    BlueskyPoster,
    CredentialsError,
    PostRefusedError,
    PostRequest,
    PostUnavailableError,
    resolve_bluesky_credentials,
)

PASSWORD = "abcd-efgh-ijkl-mnop"


@dataclass
class Response:
    status_code: int
    content: bytes = json.dumps({"error": "x", "message": f"password {PASSWORD}"}).encode()


class SdkError(RequestException):
    def __init__(self, status: int) -> None:
        super().__init__(Response(status))  # type: ignore[arg-type]


class FakeClient:
    def __init__(self, *, video_status: int | None = None, post_status: int | None = None) -> None:
        self.video_status = video_status
        self.post_status = post_status
        self.logins: list[tuple[str, str, bool]] = []
        self.posts: list[dict[str, Any]] = []
        self.me = None

    def login(self, handle: str, password: str, *, fetch_bsky_profile: bool) -> Any:
        self.logins.append((handle, password, fetch_bsky_profile))
        return type("Session", (), {"did": "did:plc:abc"})()

    def upload_blob(self, data: bytes) -> Any:
        if self.video_status:
            raise SdkError(self.video_status)
        blob = BlobRef(mime_type="video/mp4", size=len(data), ref="bafkreifake")
        return type("Upload", (), {"blob": blob})()

    def send_post(self, text: str, *, embed: Any, profile_identify: str | None) -> Any:
        if self.post_status:
            raise SdkError(self.post_status)
        self.posts.append({"text": text, "embed": embed, "repo": profile_identify})
        return type(
            "Created", (), {"uri": f"at://did:plc:abc/app.bsky.feed.post/{len(self.posts)}"}
        )()


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
    assert result.uri == "at://did:plc:abc/app.bsky.feed.post/1"
    assert result.with_video
    (post,) = client.posts
    assert post["embed"].py_type == "app.bsky.embed.video"
    assert post["repo"] == "did:plc:abc"
    assert client.logins == [("host.test", PASSWORD, False)]


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
