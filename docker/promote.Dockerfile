# podpipe promote: promotion plans, scheduled posts (Bluesky) and ready-to-post reminders.
# Build from the repository root after the base targets (see docs/deploy.md, `make images`).
ARG BUILDER_IMAGE=podpipe-builder:local
ARG BASE_IMAGE=podpipe-base:local

FROM ${BUILDER_IMAGE} AS build
# The builder's working directory, restated: the relative COPYs below land in /src.
WORKDIR /src
RUN uv sync --frozen --no-dev --package podpipe-promote --no-install-workspace
COPY src src
COPY services services
RUN uv sync --frozen --no-dev --package podpipe-promote --no-editable

FROM ${BASE_IMAGE}
COPY --from=build --chown=root:root /app/.venv /app/.venv

USER 10001:10001
# A queue worker listens on nothing; ECS ignores an image HEALTHCHECK (the task definition
# would carry one) and replaces a crashed essential container itself.
HEALTHCHECK NONE
CMD ["python", "-m", "podpipe_promote"]
