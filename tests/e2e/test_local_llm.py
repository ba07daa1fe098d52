"""The sample episode through the four services with a real open-weights model writing.

The local llama.cpp server runs as a real process (the small packaged model, a fixed seed,
tight output limits) and the llm service reaches it through its ordinary OpenAI-compatible
provider. What a small model writes varies with the machine, so nothing here compares text:
each answer is checked for the structure its prompt asks for and for grounding in the
transcript, every prompt has ended (with an answer, or with a "Prompt Failed" that says
why), and the transcript prefix was processed once for the episode, not once per prompt.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from podpipe.documents import Transcript
from podpipe.events import PromptFailed
from podpipe.layout import EpisodeKeys, EpisodeMetadata
from podpipe.s3io import get_json_or_none
from podpipe_llm.catalog import load_catalog
from podpipe_llm.copying import drop_copied_instructions
from podpipe_llm.evaluate import EvalEpisode, score_answer
from tests.support.e2e import SAMPLE_METADATA, Run, running_pipeline
from tests.support.local_llm import LocalLlm

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def run(
    localstack: str, local_llm: LocalLlm, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    with running_pipeline(
        tmp_path_factory.mktemp("e2e-llm-state"), local_llm.service_env()
    ) as pipeline_run:
        yield pipeline_run


@pytest.mark.timeout(1500)  # Whisper and eight prompts on a real model, on two cores
def test_a_real_model_writes_the_episode_outputs(run: Run, local_llm: LocalLlm) -> None:
    episode = "e2e-llm"
    run.upload(episode)
    settled = run.wait(episode)
    assert settled in {0, 1}, "podpipe wait should see every stage end"

    keys = EpisodeKeys(episode)
    s3, bucket = run.stack.s3, run.stack.bucket
    transcript = Transcript.model_validate(get_json_or_none(s3, bucket, keys.transcript_json))
    sample = EvalEpisode(
        episode, transcript, EpisodeMetadata.model_validate_json(SAMPLE_METADATA.read_text())
    )
    manifest = get_json_or_none(s3, bucket, keys.manifest)
    prompt_ids = [p["id"] for p in manifest["prompts"]]
    failed = {e.detail.prompt_id: e.detail for e in run.events_for(episode, PromptFailed)}
    for detail in failed.values():
        assert isinstance(detail, PromptFailed)
        assert detail.failure.reason, "a failed prompt says why"
        assert detail.replay_command.startswith("podpipe dlq replay --queue llm")
    written = [p for p in prompt_ids if p not in failed]
    assert len(written) >= len(prompt_ids) - 2, f"too many prompts failed: {sorted(failed)}"
    assert settled == (1 if failed else 0)

    catalog = load_catalog()
    cached_share: dict[str, float] = {}
    grounding: dict[str, float] = {}
    for prompt_id in written:
        spec = catalog.get(prompt_id)
        meta = get_json_or_none(s3, bucket, keys.prompt_metadata(prompt_id))
        assert meta is not None, prompt_id
        # Written by the real model, through the shared-prefix layout.
        assert meta["model"] == f"openai:{local_llm.model}", prompt_id
        assert meta["prompt_layout"] == "shared-prefix", prompt_id
        body = s3.get_object(Bucket=bucket, Key=keys.prompt_output(prompt_id, spec.extension))
        text = body["Body"].read().decode()
        card = score_answer(spec, text, sample)
        if spec.output == "json":
            # Constrained decoding + validation: the stored JSON passes its schema and the
            # transcript checks (times inside the episode, clips 30-90 s).
            assert card.check("structure").passed, (prompt_id, card.checks)
        else:
            assert card.check("structure").score > 0, (prompt_id, card.checks)
        if spec.output != "json":
            # The runner dropped every sentence that copied the prompt's own instructions.
            assert drop_copied_instructions(spec.template, text)[1] == [], (prompt_id, text)
            grounding[prompt_id] = card.check("grounding").score
        cached_share[prompt_id] = meta["cached_input_tokens"] / max(1, meta["input_tokens"])
    # About this episode: across all the prose it wrote, most names and numbers it states are
    # in the transcript. One answer alone is too little to judge.
    assert grounding, "no prose output was written"
    assert sum(grounding.values()) / len(grounding) >= 0.5, grounding
    # The transcript prefix was processed once: every prompt after the first read most of
    # its prompt from llama.cpp's cache.
    reused = [p for p, share in cached_share.items() if share >= 0.5]
    assert len(reused) >= len(written) - 1, cached_share
