# The shared base of every podpipe image, in two targets (built first by `make images`):
#   builder  Python + uv, resolves a service's locked dependencies into /app/.venv
#   runtime  Python only, a non-root user, no compiler, no uv, no package manager cache
# Service images build in `builder` and copy just the virtual environment into `runtime`.

# Registry defaults; `make images-check` builds offline with local stand-ins instead: a
# debootstrapped bookworm with Debian's Python 3.11 and uv from its PyPI wheel.
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE} AS builder
# The interpreter every venv links to (/usr/bin/python3.11 in Debian's own python3 package).
ARG PYTHON=/usr/local/bin/python3.11
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=${PYTHON} \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Workspace manifests first: the dependency layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock README.md ./
COPY services/transcode/pyproject.toml services/transcode/pyproject.toml
COPY services/transcribe/pyproject.toml services/transcribe/pyproject.toml
COPY services/llm/pyproject.toml services/llm/pyproject.toml
COPY services/notify/pyproject.toml services/notify/pyproject.toml

FROM ${PYTHON_IMAGE} AS runtime
# Bytecode is compiled at build time (UV_COMPILE_BYTECODE): the root filesystem is read-only
# at run time, and /tmp (a volume) is the only writable place.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/app/.venv/bin:$PATH \
    HOME=/tmp \
    TMPDIR=/tmp
RUN groupadd --system --gid 10001 podpipe \
 && useradd --system --uid 10001 --gid podpipe --home-dir /tmp --no-create-home \
      --shell /usr/sbin/nologin podpipe
WORKDIR /app
USER 10001:10001
# A queue worker listens on nothing; ECS ignores an image HEALTHCHECK.
HEALTHCHECK NONE
