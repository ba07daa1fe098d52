"""The studio's guard (token → cookie, CSRF, Host, headers) and its pure view helpers."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from podpipe_studio.app import Transfers
from podpipe_studio.security import COOKIE_NAME, Guard, GuardMiddleware
from podpipe_studio.views import json_tables, markdown_html, output_view, state_label

PORT = 8790


async def echo(request: Request) -> PlainTextResponse:
    form = await request.form()
    return PlainTextResponse(f"{request.method} {dict(form)}")


@pytest.fixture
def guard() -> Guard:
    return Guard(port=PORT)


@pytest.fixture
def client(guard: Guard) -> TestClient:
    app = Starlette(routes=[Route("/", echo, methods=["GET", "POST"])])
    app.add_middleware(GuardMiddleware, guard=guard)
    return TestClient(app, base_url=f"http://127.0.0.1:{PORT}", follow_redirects=False)


def signed_in(client: TestClient, guard: Guard) -> TestClient:
    client.cookies.set(COOKIE_NAME, guard.token)
    return client


def test_without_the_token_every_page_is_refused(client: TestClient) -> None:
    assert client.get("/").status_code == 403
    assert client.get("/?token=guess").status_code == 403
    assert client.post("/", data={"a": "1"}).status_code == 403


def test_the_token_becomes_a_strict_cookie_and_leaves_the_url(
    client: TestClient, guard: Guard
) -> None:
    reply = client.get(f"/?token={guard.token}&tab=x")
    assert reply.status_code == 303
    assert reply.headers["location"] == "/?tab=x"
    cookie = reply.headers["set-cookie"]
    assert f"{COOKIE_NAME}={guard.token}" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    page = client.get("/?tab=x")  # the client kept the cookie
    assert page.status_code == 200
    assert page.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


def test_state_changes_need_the_csrf_token(client: TestClient, guard: Guard) -> None:
    client = signed_in(client, guard)
    assert client.post("/", data={"a": "1"}).status_code == 403
    assert client.post("/", data={"a": "1", "csrf_token": "0" * 64}).status_code == 403
    assert client.post("/", data={"a": "1", "csrf_token": guard.token}).status_code == 403
    ok = client.post("/", data={"a": "1", "csrf_token": guard.csrf_token})
    assert ok.status_code == 200
    assert "'a': '1'" in ok.text  # the route still reads the form the guard checked
    header = client.post("/", data={"a": "2"}, headers={"X-CSRF-Token": guard.csrf_token})
    assert header.status_code == 200
    multipart = client.post(
        "/", files={"f": ("a.mp3", b"x")}, data={"csrf_token": guard.csrf_token}
    )
    assert multipart.status_code == 403  # multipart must use the header


def test_cross_site_requests_and_other_hosts_are_refused(client: TestClient, guard: Guard) -> None:
    client = signed_in(client, guard)
    form = {"csrf_token": guard.csrf_token}
    assert client.post("/", data=form, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert client.post("/", data=form, headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post("/", data=form, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert client.get("/", headers={"Host": f"evil.example:{PORT}"}).status_code == 403
    assert client.get("/", headers={"Host": "127.0.0.1:9999"}).status_code == 403
    assert client.get("/", headers={"Host": f"localhost:{PORT}"}).status_code == 200


def test_the_token_is_not_in_the_guards_repr() -> None:
    guard = Guard(port=1)
    assert guard.token not in repr(guard)
    assert guard.csrf_token != guard.token
    assert len(guard.token) >= 40


def test_markdown_is_rendered_without_raw_html() -> None:
    html = str(markdown_html("**bold** <script>alert(1)</script> [x](javascript:alert(1))"))
    assert "<strong>bold</strong>" in html
    assert "<script>" not in html
    assert 'href="javascript' not in html  # left as text, never a link


def test_json_becomes_tables_of_strings() -> None:
    tables = json_tables(
        {"version": "1.2.0", "chapters": [{"startTime": 0, "title": "A"}, {"title": "B", "x": [1]}]}
    )
    assert tables[0].columns == ["field", "value"]
    assert tables[0].rows == [["version", "1.2.0"]]
    assert tables[1].title == "chapters"
    assert tables[1].columns == ["startTime", "title", "x"]
    assert tables[1].rows == [["0", "A", ""], ["", "B", "[1]"]]


def test_an_output_carries_its_model_tokens_and_cost() -> None:
    meta = {"model": "m", "input_tokens": 10, "output_tokens": 2, "estimated_cost_usd": 0.5}
    view = output_view("titles", "md", b"# T", meta)
    assert (view.model, view.input_tokens, view.output_tokens, view.cost_usd) == ("m", 10, 2, 0.5)
    assert view.html is not None
    broken = output_view("chapters", "json", b"{not json", None)
    assert broken.text == "{not json"
    assert broken.model == ""
    assert state_label("pending") == "queued"
    assert state_label("in DLQ") == "in DLQ"


def test_the_s3_half_of_an_upload_reports_its_bytes() -> None:
    transfers = Transfers()
    transfers.start("../etc", 10)  # only ids the page makes (uuid characters) are kept
    assert transfers.get("../etc") == (0, 0)
    transfers.start("0f3c-1", 100)
    transfers.advance("0f3c-1", 40)
    transfers.advance("0f3c-1", 80)
    assert transfers.get("0f3c-1") == (100, 100)
    transfers.advance("unknown", 5)
    assert transfers.get("unknown") == (0, 0)


async def test_the_first_visit_never_redirects_to_another_site(guard: Guard) -> None:
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    async def never(scope: object, receive: object, send: object) -> None:
        raise AssertionError("the route must not run")

    scope = {
        "type": "http",
        "method": "GET",
        "path": "//evil.example/",
        "query_string": f"token={guard.token}".encode(),
        "headers": [(b"host", f"127.0.0.1:{PORT}".encode())],
    }
    await GuardMiddleware(never, guard)(scope, receive, send)  # type: ignore[arg-type]
    headers = dict(sent[0]["headers"])  # type: ignore[call-overload]
    assert sent[0]["status"] == 303
    assert headers[b"location"] == b"/evil.example/"
