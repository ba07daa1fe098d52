# podpipe transcode: any audio in, a loudness-normalised, tagged podcast MP3 out (and a video episode's videos).
# Build from the repository root after the base targets (see docs/deploy.md, `make images`).
ARG BUILDER_IMAGE=podpipe-builder:local
ARG BASE_IMAGE=podpipe-base:local

FROM ${BUILDER_IMAGE} AS build
# The builder's working directory, restated: the relative COPYs below land in /src.
WORKDIR /src
RUN uv sync --frozen --no-dev --package podpipe-transcode --no-install-workspace
COPY src src
COPY services services
RUN uv sync --frozen --no-dev --package podpipe-transcode --no-editable

FROM ${BASE_IMAGE}
# Debian's ffmpeg (lame, loudnorm, drawtext for audiograms) and a font for the captions;
# a runtime package, not a build tool. The service finds it on PATH.
USER 0:0
# Unpinned on purpose: bookworm's security updates replace these versions in the archive, so
# a pin would break the next rebuild; the base image is pinned, the archive moves with it.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install --yes --no-install-recommends ffmpeg fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build --chown=root:root /app/.venv /app/.venv
ENV PODPIPE_WORK_DIR=/tmp
USER 10001:10001
# A queue worker listens on nothing; ECS ignores an image HEALTHCHECK (the task definition
# would carry one) and replaces a crashed essential container itself.
HEALTHCHECK NONE
CMD ["python", "-m", "podpipe_transcode"]
