# syntax=docker/dockerfile:1.7
# podpipe notify: SNS e-mail and Slack notifications, and the episode digest.
# Build from the repository root after the base targets (see docs/deploy.md, `make images`).
ARG BUILDER_IMAGE=podpipe-builder:local
ARG BASE_IMAGE=podpipe-base:local

FROM ${BUILDER_IMAGE} AS build
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --package podpipe-notify --no-install-workspace
COPY src src
COPY services services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --package podpipe-notify --no-editable

FROM ${BASE_IMAGE}
COPY --from=build --chown=root:root /app/.venv /app/.venv

USER 10001:10001
CMD ["python", "-m", "podpipe_notify"]
