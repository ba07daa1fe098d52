"""Dispatcher and worker with a scripted model: storms, poison, invalid JSON, long episodes."""

from __future__ import annotations

import json

import pytest

from podpipe.events import Failure, PromptCompleted, PromptRequested, PromptsDispatched
from podpipe.runtime.errors import PermanentError
from podpipe.runtime.service import MessageContext
from podpipe_llm.ratelimit import RateLimiter
from podpipe_llm.settings import RateLimit
from tests.support.scripted_llm import (
    ExtractiveProvider,
    FakeClock,
    Harness,
    ScriptedProvider,
    transcript_ready,
)

ALL = {
    "titles", "show-notes", "chapters", "blog-post", "social-posts", "clip-picks",
    "newsletter", "pull-quotes",
}  # fmt: skip


def first_try(prompt_id: str) -> MessageContext:
    return MessageContext(f"m-{prompt_id}", "llm", 1, 4)


def test_dispatch_writes_the_manifest_and_one_pointer_message_per_prompt() -> None:
    harness = Harness.build()
    harness.add_episode()

    events = harness.dispatch()

    assert isinstance(events[0], PromptsDispatched)
    requests = [e for e in events if isinstance(e, PromptRequested)]
    assert {r.prompt_id for r in requests} == ALL
    assert all(r.model == "bedrock:test-model" for r in requests)
    assert all(r.transcript_json.key == "episodes/ep-1/transcript.json" for r in requests)
    ids = [r.prompt_id for r in requests]
    assert ids.index("chapters") < ids.index("blog-post")
    manifest = harness.store.manifests["ep-1"]
    assert {p["id"] for p in manifest["prompts"]} == ALL
    assert harness.ledger.records[("ep-1", "dispatch")].status == "done"


def test_a_replayed_transcript_ready_does_not_request_prompts_that_already_have_output() -> None:
    harness = Harness.build()
    harness.add_episode()
    harness.drain([r for r in harness.dispatch() if getattr(r, "prompt_id", "") == "titles"])

    again = harness.dispatch()

    assert "titles" not in {getattr(e, "prompt_id", None) for e in again}
    assert again[0].skipped_existing == ["titles"]
    assert len(again) == 1 + len(ALL) - 1


def test_a_throttling_storm_ends_with_every_prompt_completed_and_none_lost() -> None:
    storm = ScriptedProvider(throttle_calls=40, transient_calls=5)
    harness = Harness.build(storm, max_attempts=6)
    harness.add_episode()

    harness.drain(harness.dispatch())

    assert set(harness.completed()) == ALL
    assert harness.dead_letters == []
    assert harness.failed() == {}
    assert storm.refusals["throttled"] == 40
    waits = harness.clock.sleeps
    # Backed off between tries (not after the last try of a delivery), with jitter.
    assert len(waits) >= 35
    assert len(set(waits)) == len(waits)
    # Every refused call was retried: one successful call per prompt plus every refusal.
    assert len(storm.requests) == len(ALL) + 45


def test_a_poison_prompt_lands_alone_in_the_dlq_while_the_others_complete() -> None:
    provider = ScriptedProvider(
        poison={"pull-quotes": "ValidationException: The provided model identifier is invalid."}
    )
    harness = Harness.build(provider)
    harness.add_episode()

    harness.drain(harness.dispatch())

    assert set(harness.completed()) == ALL - {"pull-quotes"}
    assert [e.prompt_id for e, _reason in harness.dead_letters] == ["pull-quotes"]
    failed = harness.failed()["pull-quotes"]
    assert "model identifier is invalid" in failed.failure.reason
    assert failed.replay_command == (
        "podpipe dlq replay --queue llm --episode ep-1 --prompt pull-quotes"
    )
    assert len(provider.calls_for("pull-quotes")) == 1  # refused requests are not retried
    assert harness.ledger.records[("ep-1", "prompt-pull-quotes")].status == "failed"


def test_replaying_the_fixed_prompt_completes_the_episode() -> None:
    provider = ScriptedProvider(poison={"pull-quotes": "AccessDeniedException: no access"})
    harness = Harness.build(provider)
    harness.add_episode()
    harness.drain(harness.dispatch())
    poisoned, _ = harness.dead_letters.pop()

    provider.poison.clear()  # the team fixed model access
    calls_before = len(provider.requests)
    harness.drain([poisoned])

    assert set(harness.completed()) == ALL
    assert len(provider.requests) == calls_before + 1  # only the replayed prompt ran


def test_a_redelivered_request_does_not_call_the_model_again() -> None:
    provider = ScriptedProvider()
    harness = Harness.build(provider)
    harness.add_episode()
    request = next(e for e in harness.dispatch() if getattr(e, "prompt_id", "") == "titles")

    first = harness.worker.handle(request, first_try("titles"))
    second = harness.worker.handle(request, MessageContext("m", "llm", 2, 4))

    assert len(provider.requests) == 1
    assert isinstance(second[0], PromptCompleted)
    assert second[0].output == first[0].output
    # A replay with another model does run again.
    harness.worker.handle(
        request.model_copy(update={"model": "bedrock:other", "replay": True}), first_try("titles")
    )
    assert provider.requests[-1].model == "other"
    assert harness.store.output_meta[("ep-1", "titles")]["model"] == "bedrock:other"


def test_invalid_json_is_retried_with_the_problems_fed_back() -> None:
    provider = ScriptedProvider(invalid_answers={"clip-picks": 2})
    harness = Harness.build(provider, json_attempts=3)
    harness.add_episode()

    harness.drain([e for e in harness.dispatch() if getattr(e, "prompt_id", "") == "clip-picks"])

    assert "clip-picks" in harness.completed()
    calls = provider.calls_for("clip-picks")
    assert len(calls) == 3
    feedback = calls[-1].messages[-1].text
    assert "not accepted" in feedback
    assert "not valid JSON" in feedback
    assert harness.store.output_meta[("ep-1", "clip-picks")]["answers"] == 3


def test_an_answer_that_copies_its_instructions_is_sent_back() -> None:
    echoed = "# Show notes\n## Summary\nTwo short paragraphs a listener reads before pressing play."
    written = "# Show notes\n## Summary\nThe hosts compare heat pumps and boilers."
    answers = iter([echoed, written])
    provider = ScriptedProvider(answer=lambda _request: next(answers))
    harness = Harness.build(provider, json_attempts=3)
    harness.add_episode()

    harness.drain([e for e in harness.dispatch() if getattr(e, "prompt_id", "") == "show-notes"])

    assert harness.store.outputs[("ep-1", "show-notes")] == written + "\n"
    feedback = provider.calls_for("show-notes")[-1].messages[-1].text
    assert "copies the instructions" in feedback
    assert "Two short paragraphs a listener reads before pressing play" in feedback


def test_a_copied_instruction_is_dropped_and_the_content_kept() -> None:
    answer = (
        "# Show notes\n## Summary\nThe hosts compare heat pumps and boilers.\n"
        "## Links and resources mentioned\n- A bullet list of every book, tool, website, company"
        " or person that is mentioned by name.\n- The Heat Pump Handbook"
    )
    provider = ScriptedProvider(answer=lambda _request: answer)
    harness = Harness.build(provider, json_attempts=3)
    harness.add_episode()

    harness.drain([e for e in harness.dispatch() if getattr(e, "prompt_id", "") == "show-notes"])

    assert len(provider.calls_for("show-notes")) == 1  # not sent back: the copy is dropped
    assert harness.store.outputs[("ep-1", "show-notes")] == (
        "# Show notes\n## Summary\nThe hosts compare heat pumps and boilers.\n"
        "## Links and resources mentioned\n- The Heat Pump Handbook\n"
    )


def test_invalid_json_that_never_gets_fixed_fails_cleanly() -> None:
    provider = ScriptedProvider(invalid_answers={"clip-picks": 99})
    harness = Harness.build(provider, json_attempts=3)
    harness.add_episode()
    request = next(e for e in harness.dispatch() if getattr(e, "prompt_id", "") == "clip-picks")

    with pytest.raises(PermanentError, match="no valid answer after 3 tries"):
        harness.worker.handle(request, first_try("clip-picks"))
    assert len(provider.calls_for("clip-picks")) == 3
    assert ("ep-1", "clip-picks") not in harness.store.outputs


def test_a_three_hour_episode_completes_through_map_reduce() -> None:
    provider = ScriptedProvider(context_window=8_000)  # refuses any request larger than this
    harness = Harness.build(provider, context_tokens=8_000)
    transcript = harness.add_episode("ep-long", 3 * 3600)
    assert len(" ".join(s.text for s in transcript.segments)) // 4 > 30_000  # ≫ the window

    harness.drain(harness.dispatch("ep-long"))

    assert set(harness.completed()) == ALL
    meta = harness.store.output_meta[("ep-long", "show-notes")]
    assert meta["map_calls"] >= 5
    final = provider.calls_for("show-notes")[-1].system  # the notes replace the transcript
    assert "notes condensed from it" in final
    assert "[02:" in final  # the end of the episode made it into the notes


def test_every_prompt_of_an_episode_starts_with_the_same_transcript_prefix() -> None:
    provider = ScriptedProvider()
    harness = Harness.build(provider)
    harness.add_episode()

    harness.drain(harness.dispatch())

    finals = {pid: provider.calls_for(pid)[-1] for pid in ALL}
    prefixes = {call.system for call in finals.values()}
    assert len(prefixes) == 1  # byte-identical: one prompt-cache entry serves the episode
    (prefix,) = prefixes
    assert "[00:00:00]" in prefix  # the transcript is in the shared prefix...
    for pid, call in finals.items():
        assert call.cache_system, pid
        assert "[00:00:00]" not in call.messages[0].text, pid  # ...and not in the task


def test_json_prompts_ask_for_their_schema_and_markdown_prompts_do_not() -> None:
    provider = ScriptedProvider()
    harness = Harness.build(provider)
    harness.add_episode()

    harness.drain(harness.dispatch())

    chapters = provider.calls_for("chapters")[-1].json_schema
    assert chapters is not None
    assert "chapters" in chapters["properties"]
    assert provider.calls_for("titles")[-1].json_schema is None


def test_a_prompt_waits_for_its_dependency_instead_of_failing() -> None:
    harness = Harness.build()
    harness.add_episode()
    requests = {e.prompt_id: e for e in harness.dispatch() if isinstance(e, PromptRequested)}

    # blog-post first (chapters is late): it parks, burning no receives, and ends its message.
    assert harness.worker.handle(requests["blog-post"], first_try("blog-post")) == []
    parked = harness.ledger.records[("ep-1", "prompt-blog-post")]
    assert (parked.status, parked.details["waiting_for"]) == ("running", ["chapters"])

    # chapters completes and re-requests blog-post, which now has its dependency.
    harness.drain([requests["chapters"]])
    assert {"chapters", "blog-post"} <= set(harness.completed())
    prompt = harness.provider.calls_for("blog-post")[-1].messages[0].text
    assert harness.store.outputs[("ep-1", "chapters")].strip() in prompt
    assert harness.completed()["blog-post"].missing_dependencies == []


def test_a_crashed_worker_never_makes_the_dependent_prompt_give_up() -> None:
    """Issue #16: chapters' worker crashed, its message stayed invisible for the llm queue's
    120 s visibility timeout, and blog-post, retrying for ~35 s, wrote the blog post
    without chapters on its last receive and reported plain "done"."""
    harness = Harness.build()
    harness.add_episode()
    requests = {e.prompt_id: e for e in harness.dispatch() if isinstance(e, PromptRequested)}

    # Every receive blog-post could ever get, the last one included, while chapters is
    # invisible somewhere: it never runs without chapters.
    for receive in range(1, 5):
        assert (
            harness.worker.handle(requests["blog-post"], MessageContext("m", "llm", receive, 4))
            == []
        )
    assert ("ep-1", "blog-post") not in harness.store.output_meta

    harness.drain([requests["chapters"]])  # chapters' message comes back and completes

    blog = harness.completed()["blog-post"]
    assert blog.missing_dependencies == []
    assert len(harness.provider.calls_for("blog-post")) == 1


def test_a_dependency_that_failed_for_good_does_not_block_and_is_flagged() -> None:
    provider = ScriptedProvider(poison={"chapters": "ValidationException: bad"})
    harness = Harness.build(provider)
    harness.add_episode()
    requests = {e.prompt_id: e for e in harness.dispatch() if isinstance(e, PromptRequested)}

    harness.drain([requests["blog-post"], requests["chapters"]])  # blog-post parks first

    blog = harness.completed()["blog-post"]
    assert blog.missing_dependencies == ["chapters"]  # never plain done
    assert harness.store.output_meta[("ep-1", "blog-post")]["missing_dependencies"] == ["chapters"]
    record = harness.ledger.records[("ep-1", "prompt-blog-post")]
    assert (record.status, record.details["missing_dependencies"]) == ("done", ["chapters"])
    prompt = provider.calls_for("blog-post")[-1].messages[0].text
    assert "The chapters output is not available: that prompt failed" in prompt


def test_the_rate_limiter_spaces_requests_to_the_quota() -> None:
    clock = FakeClock(start=0.0)
    limiter = RateLimiter(RateLimit(requests_per_minute=6), clock)

    for _ in range(5):
        limiter.acquire(10)

    assert clock.t == pytest.approx(40.0)  # 5 requests at 6/min: one every 10 s, first at once


def test_the_rate_limiter_paces_tokens_and_refunds_what_was_not_used() -> None:
    clock = FakeClock(start=0.0)
    limiter = RateLimiter(RateLimit(tokens_per_minute=6000), clock)

    limiter.acquire(6000)  # the full bucket
    reserved = limiter.acquire(3000)  # waits for half a minute of refill
    assert clock.t == pytest.approx(30.0)
    limiter.settle(reserved, 1000)  # used much less than reserved
    limiter.acquire(2000)
    assert clock.t == pytest.approx(30.0)  # the refund covered it


def test_a_prompt_naming_an_unconfigured_provider_fails_alone_and_replays_with_another_model() -> (
    None
):
    harness = Harness.build()
    harness.add_episode()
    request = next(e for e in harness.dispatch() if getattr(e, "prompt_id", "") == "pull-quotes")
    broken = request.model_copy(update={"model": "openai:gpt-4o-mini"})

    harness.drain([broken])

    [(_event, reason)] = harness.dead_letters
    assert "needs the openai provider" in reason
    harness.drain([broken.model_copy(update={"model": "extractive", "replay": True})])
    assert "pull-quotes" in harness.completed()
    assert harness.store.output_meta[("ep-1", "pull-quotes")]["model"] == "extractive"


# --------------------------------------------------------------------------- versions (issue 16)


def test_a_prompt_of_the_old_recording_that_finishes_late_never_lands_in_the_new_version() -> None:
    """Issue #16: a prompt of version 1 still running when a corrected recording arrives must
    not write into version 2's folder, where the new run would skip it ("skipped_existing")."""
    harness = Harness.build()
    harness.add_episode(duration_seconds=1800.0)
    harness.ledger.versions["ep-1"] = 1
    old_requests = harness.dispatch(version=1)
    chapters_v1 = next(e for e in old_requests if getattr(e, "prompt_id", "") == "chapters")
    assert chapters_v1.version == 1

    def answer_while_replaced(request: object) -> str:
        harness.new_recording(duration_seconds=60.0)  # re-uploaded mid-call
        harness.provider.answer = None
        return ExtractiveProvider().complete(request).text  # type: ignore[arg-type]

    harness.provider.answer = answer_while_replaced
    assert harness.worker.handle(chapters_v1, first_try("chapters")) == []
    assert ("ep-1", "chapters") not in harness.store.output_meta
    assert ("ep-1", "prompt-chapters") not in harness.ledger.records

    new_requests = harness.dispatch(version=2)
    assert new_requests[0].skipped_existing == []
    assert {getattr(e, "prompt_id", None) for e in new_requests[1:]} == ALL
    harness.drain(new_requests)
    chapters = harness.completed()["chapters"]
    assert chapters.version == 2
    assert harness.store.output_meta[("ep-1", "chapters")]["version"] == 2
    starts = [
        c["startTime"] for c in json.loads(harness.store.outputs[("ep-1", "chapters")])["chapters"]
    ]
    assert starts
    assert max(starts) < 60.0  # made from the new, 60-second recording


def test_an_old_versions_output_that_landed_anyway_is_not_taken_for_the_new_one() -> None:
    """A stale output written in the instant of the archive carries its version: the new
    version's dispatch requests the prompt again and no dependent prompt uses it."""
    harness = Harness.build()
    harness.add_episode(duration_seconds=60.0)
    harness.ledger.versions["ep-1"] = 2
    stale = {"prompt_id": "chapters", "version": 1, "model": "bedrock:test-model"}
    harness.store.output_meta[("ep-1", "chapters")] = stale
    harness.store.outputs[("ep-1", "chapters")] = '{"version": "1.2.0", "chapters": []}'

    requests = harness.dispatch(version=2)
    assert requests[0].skipped_existing == []
    blog_post = next(e for e in requests if getattr(e, "prompt_id", "") == "blog-post")
    assert harness.worker.handle(blog_post, first_try("blog-post")) == []  # waits for v2's
    record = harness.ledger.records[("ep-1", "prompt-blog-post")]
    assert record.details["waiting_for"] == ["chapters"]


def test_a_request_of_a_replaced_version_is_dropped_and_its_failure_recorded_nowhere() -> None:
    provider = ScriptedProvider()
    harness = Harness.build(provider)
    harness.add_episode()
    harness.ledger.versions["ep-1"] = 1
    titles_v1 = next(
        e for e in harness.dispatch(version=1) if getattr(e, "prompt_id", "") == "titles"
    )
    harness.new_recording()

    assert harness.worker.handle(titles_v1, first_try("titles")) == []
    failure = Failure(reason="no transcript", error_type="PermanentError")
    assert harness.worker.on_failure(titles_v1, failure) == []
    assert provider.requests == []
    assert harness.ledger.records == {}
    stale_ready = harness.dispatcher.handle(
        transcript_ready("ep-1", 60.0, version=1), MessageContext("m-d", "llm-dispatch", 1, 5)
    )
    assert stale_ready == []
    assert "ep-1" not in harness.store.manifests
