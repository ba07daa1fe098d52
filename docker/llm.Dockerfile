# podpipe llm: the prompt dispatcher and the single rate-limited LLM worker.
# Build from the repository root after the base targets (see docs/deploy.md, `make images`).
ARG BUILDER_IMAGE=podpipe-builder:local
ARG BASE_IMAGE=podpipe-base:local

FROM ${BUILDER_IMAGE} AS build
# The builder's working directory, restated: the relative COPYs below land in /src.
WORKDIR /src
RUN uv sync --frozen --no-dev --package podpipe-llm --no-install-workspace
COPY src src
COPY services services
# The podpipe-llm wheel carries the default prompt catalog (force-included from prompts/).
COPY prompts prompts
RUN uv sync --frozen --no-dev --package podpipe-llm --no-editable

FROM ${BASE_IMAGE}
COPY --from=build --chown=root:root /app/.venv /app/.venv
# Prompts: the catalog packaged in the wheel; a team overrides them under s3://<bucket>/prompts/.
USER 10001:10001
# A queue worker listens on nothing; ECS ignores an image HEALTHCHECK (the task definition
# would carry one) and replaces a crashed essential container itself.
HEALTHCHECK NONE
CMD ["python", "-m", "podpipe_llm"]
