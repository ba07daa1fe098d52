"""The studio's promotion section over fakes: the episode's plan (items, time, network, state,
text) rendered on its page, and its Skip button calling the promotion desk's ``skip``, the
operation `podpipe promote EP --skip N` calls."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from starlette.testclient import TestClient

from podpipe_cli.context import AwsContext
from podpipe_promote.plan import job_id
from podpipe_studio.app import _templates, create_app
from podpipe_studio.backend import Studio, StudioError
from podpipe_studio.security import COOKIE_NAME, Guard
from tests.unit.test_promote_desk import World

PORT = 8791


def studio_over(world: World) -> Studio:
    aws = cast(AwsContext, SimpleNamespace(bucket="media"))
    return Studio(aws, world.release, presign_seconds=60, promotion=world.desk)


@pytest.fixture
def world() -> World:
    world = World()
    world.publish()
    world.desk.make_plan("ep1")
    assert world.desk.deliver("ep1", "1-bluesky", owner="m1").outcome == "posted"
    return world


def render(page: Any, guard: Guard) -> str:
    template = _templates(guard).env.get_template("_promotion.html")
    return template.render(page=page)


def test_the_episode_page_shows_the_plan_with_a_skip_for_what_has_not_gone_out(
    world: World,
) -> None:
    guard = Guard(port=PORT)
    studio = studio_over(world)
    found = studio._promotion("ep1")
    page = SimpleNamespace(episode_id="ep1", promotion_error=None, **found)
    html = render(page, guard)
    plan = world.desk.plan("ep1")
    assert plan is not None
    for item in plan.items:
        assert f'id="promotion-item-{item.number}"' in html
        assert item.at.strftime("%a %Y-%m-%d %H:%M") in html
    assert "at://did:plc:fake/app.bsky.feed.post/1" in html  # item 1 went out
    assert "LinkedIn post about event-driven pipelines" in html
    # a Skip for items 2-4, none for the posted item 1; each form carries the CSRF token
    assert html.count('class="skip"') == 3
    assert html.count(guard.csrf_token) == 3
    assert 'name="item" value="1"' not in html
    assert 'name="item" value="4"' in html


def test_the_plan_text_is_escaped(world: World) -> None:
    plan = world.desk.plan("ep1")
    assert plan is not None
    item = plan.items[1].model_copy(update={"text": "<script>alert(1)</script>"})
    hostile = plan.model_copy(update={"items": [plan.items[0], item]})
    html = render(
        SimpleNamespace(episode_id="ep1", promotion=hostile, promotion_error=None), Guard(port=PORT)
    )
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_no_plan_yet_says_how_one_is_made() -> None:
    html = render(
        SimpleNamespace(episode_id="ep9", promotion=None, promotion_error=None), Guard(port=PORT)
    )
    assert "podpipe promote ep9" in html


def test_skip_in_the_studio_is_the_desks_skip(world: World) -> None:
    guard = Guard(port=PORT)
    client = TestClient(
        create_app(studio_over(world), guard),
        base_url=f"http://127.0.0.1:{PORT}",
        follow_redirects=False,
    )
    client.cookies.set(COOKIE_NAME, guard.token)
    reply = client.post(
        "/episodes/ep1/promotion/skip", data={"item": "3", "csrf_token": guard.csrf_token}
    )
    assert reply.status_code == 303
    assert reply.headers["location"].startswith("/episodes/ep1?notice=Promotion+item+3+skipped")
    assert reply.headers["location"].endswith("#promotion")
    plan = world.desk.plan("ep1")
    assert plan is not None
    assert plan.item(3).state == "skipped"
    assert job_id("ep1", "3-bluesky") in world.trigger.cancelled  # its schedule is gone


def test_an_item_that_went_out_cannot_be_skipped(world: World) -> None:
    with pytest.raises(StudioError, match="already went out"):
        studio_over(world).skip_promotion_item("ep1", 1)
