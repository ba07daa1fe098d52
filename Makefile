# podpipe entry points. `make test` and `make demo` work on a fresh machine with only
# Python 3.11 and make: they install uv, the workspace and the pinned LocalStack themselves.
SHELL := /bin/bash
PYTHON ?= python3.11
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --frozen

.PHONY: help setup system-deps localstack test test-unit chaos test-prep-model pds-test lint format up down demo bench images images-check studio clean

help:
	@echo "make demo   run the whole pipeline locally on the sample episode"
	@echo "make test   unit + integration + e2e tests (installs everything it needs)"
	@echo "make lint   ruff + mypy strict"
	@echo "make up / make down   start / stop LocalStack and the services"
	@echo "make bench  benchmarks, results under bench/results/"
	@echo "make chaos  kill every service once mid-episode and freeze the emulator (~5 min)"
	@echo "make pds-test  promotion against a real local atproto PDS (first run installs it: ~5.5 min, ~560 MB)"
	@echo "make studio the studio web app on 127.0.0.1 (against LocalStack after make up)"
	@echo "make images-check   build every image offline and run each one hardened (slow)"

setup: system-deps
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --all-packages --frozen --quiet

# The audiogram text needs a font; ffmpeg itself comes from the imageio-ffmpeg wheel. The
# studio's browser tests drive Debian's Chromium with Playwright (no browser download).
FONT := /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
CHROMIUM := /usr/bin/chromium
system-deps:
	@if [ ! -e $(FONT) ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -qq --no-install-recommends fonts-dejavu-core >/dev/null 2>&1 || \
	     (apt-get update -qq && apt-get install -y -qq --no-install-recommends fonts-dejavu-core)) >/dev/null; \
	  else echo "warning: $(FONT) missing; install fonts-dejavu-core for audiogram captions"; fi; \
	fi
	@if [ ! -x $(CHROMIUM) ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null 2>&1 || \
	     (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver)) >/dev/null || \
	    echo "warning: could not install chromium; the studio's browser tests will be skipped"; \
	  else echo "warning: $(CHROMIUM) missing; the studio's browser tests will be skipped (apt-get install chromium chromium-driver)"; fi; \
	fi

localstack: setup
	$(RUN) podpipe local install

# Two pytest-xdist workers: one takes the CPU-bound e2e files, the other the tests that
# mostly wait on the emulator (conftest.py groups them). Files go out in collection order, so
# the longest chain (tests/e2e) starts first instead of last, as sorting by size would have
# it. TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
test: localstack
	$(RUN) pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

test-unit: setup
	$(RUN) pytest tests/unit

lint: setup
	$(RUN) ruff format --check src services studio cli local tests bench
	$(RUN) ruff check src services studio cli local tests bench
	$(RUN) mypy src services/*/src studio/src cli/src local/src

format: setup
	$(RUN) ruff format src services studio cli local tests bench
	$(RUN) ruff check --fix src services studio cli local tests bench

up: localstack
	$(RUN) podpipe local up

down:
	$(RUN) podpipe local down

demo: localstack
	$(RUN) podpipe demo --sample samples/episode.m4a

bench: localstack
	$(RUN) python -m bench

chaos: localstack
	$(RUN) pytest -m chaos tests/e2e/test_chaos.py

test-prep-model: setup
	$(RUN) pytest -m model_prep tests/e2e/test_prep_local_llm.py

# Opt-in: a real @atproto/pds (Node 22 from npm) on loopback; the npm install is cached under
# ~/.cache/podpipe/pds/<lockfile hash>, so only the first run pays for it.
pds-test: localstack
	$(RUN) pytest -m pds tests/e2e/test_promote_pds.py

studio: setup
	eval "$$($(RUN) podpipe local env)" && $(RUN) podpipe studio

# The service Dockerfiles build FROM podpipe-builder:local and podpipe-base:local: the two
# targets of base.Dockerfile. Needs Docker with BuildKit (per-Dockerfile .dockerignore files).
TAG ?= local
images:
	DOCKER_BUILDKIT=1 docker build -f docker/base.Dockerfile --target builder -t podpipe-builder:local .
	DOCKER_BUILDKIT=1 docker build -f docker/base.Dockerfile --target runtime -t podpipe-base:local .
	for s in transcode clips transcribe llm notify promote; do \
	  DOCKER_BUILDKIT=1 docker build -f docker/$$s.Dockerfile -t podpipe-$$s:$(TAG) . || exit 1; \
	done

# Opt-in, slow (vfs), needs root: builds every image offline from local bases and runs each
# one read-only as uid 10001; log in bench/results/images-check.log. Not part of `make test`.
images-check:
	docker/images_check.sh

clean: down
	rm -rf .podpipe demo-output bench/tmp
