#!/usr/bin/env bash
# `make images-check`: build every podpipe image offline and run each one hardened.
#
# No registry is reachable here, so the bases are made locally: a debootstrapped bookworm
# (minbase + Debian's Python 3.11) imported as podpipe-bookworm-python:local, and uv from its
# PyPI wheel as podpipe-uv:local. Then base.Dockerfile's builder and runtime targets
# (podpipe-builder:local, podpipe-base:local), then each service image (podpipe-<name>:local),
# then each image runs read-only, as uid 10001, without capabilities or network: its entry
# module imports, its settings load, and its tools (ffmpeg, the baked Whisper model) are there.
#
# Installs docker.io and debootstrap with apt-get when missing, starts dockerd (vfs, no
# iptables) when none answers and stops it again at the end. The classic builder builds from
# a staged context holding exactly what each <name>.Dockerfile.dockerignore lets in.
# Log: bench/results/images-check.log (override with IMAGES_CHECK_LOG).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
LOG=${IMAGES_CHECK_LOG:-$REPO/bench/results/images-check.log}
WORK=${IMAGES_CHECK_WORK:-/var/tmp/podpipe-images-check}
SERVICES=${IMAGES_CHECK_SERVICES:-"notify llm transcode clips transcribe promote"}
DOCKER=/usr/bin/docker # Debian's 20.10 client, matching its daemon
mkdir -p "$(dirname "$LOG")" "$WORK"
: >"$LOG"
exec > >(tee -a "$LOG") 2>&1
say() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
started_at=$(date +%s)

# --- tools ---------------------------------------------------------------------------------
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  say "apt-get install ${need[*]}"
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
fi
[ -x "$DOCKER" ] || DOCKER=$(command -v docker)

# --- daemon --------------------------------------------------------------------------------
dockerd_pid=""
stop_dockerd() {
  if [ -n "$dockerd_pid" ]; then
    say "stopping the dockerd this check started (pid $dockerd_pid)"
    kill "$dockerd_pid" 2>/dev/null || true
    wait "$dockerd_pid" 2>/dev/null || true
  fi
}
trap stop_dockerd EXIT
if ! "$DOCKER" info >/dev/null 2>&1; then
  say "starting dockerd --storage-driver vfs --iptables=false"
  dockerd --storage-driver vfs --iptables=false >"$WORK/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 60); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 1; done
  "$DOCKER" info >/dev/null 2>&1 || { say "dockerd did not start; see $WORK/dockerd.log"; exit 1; }
fi
say "docker $("$DOCKER" version --format '{{.Server.Version}}') storage $("$DOCKER" info --format '{{.Driver}}')"

# The build containers resolve and trust what the host does: the package hosts as the host
# resolves them (an /etc/hosts entry or a proxy here) and the host's CA bundle (below).
hosts=()
for name in pypi.org files.pythonhosted.org deb.debian.org; do
  address=$(getent hosts "$name" | awk '{print $1; exit}') || true
  [ -n "$address" ] && hosts+=(--add-host "$name:$address")
done

build() { # build <tag> <dockerfile> [docker build args...]
  local tag=$1 dockerfile=$2 context
  shift 2
  context="$WORK/context-$(basename "$dockerfile" .Dockerfile)"
  rm -rf "$context" && mkdir -p "$context/docker"
  # Exactly what the Dockerfile's own .dockerignore re-includes ("*" then "!path" lines).
  grep '^!' "docker/$(basename "$dockerfile").dockerignore" | cut -c2- | while read -r path; do
    mkdir -p "$context/$(dirname "$path")" && cp -a "$path" "$context/$path"
  done
  find "$context" \( -name __pycache__ -o -name '*.pyc' -o -name .pytest_cache -o -name .mypy_cache \) -prune -exec rm -rf {} +
  cp "$dockerfile" "$context/docker/"
  say "build $tag"
  local t0=$SECONDS
  DOCKER_BUILDKIT=0 "$DOCKER" build --network host "${hosts[@]}" -q \
    -f "$context/docker/$(basename "$dockerfile")" -t "$tag" "$@" "$context" >/dev/null || return 1
  say "built $tag in $((SECONDS - t0)) s ($("$DOCKER" image inspect "$tag" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}'))"
}

# --- local bases ---------------------------------------------------------------------------
if ! "$DOCKER" image inspect podpipe-bookworm-python:local >/dev/null 2>&1; then
  say "debootstrap --variant=minbase bookworm (+ python3, ca-certificates)"
  rootfs="$WORK/rootfs"
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include=python3,ca-certificates bookworm "$rootfs" \
    http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | "$DOCKER" import - podpipe-bookworm-python:local >/dev/null
  rm -rf "$rootfs"
fi
uv_version=$(sed -n 's/^ARG UV_IMAGE=.*uv:\([0-9.]*\)$/\1/p' docker/base.Dockerfile)
if ! "$DOCKER" image inspect "podpipe-uv:$uv_version" >/dev/null 2>&1; then
  say "uv $uv_version from its PyPI wheel"
  rm -rf "$WORK/uv" && mkdir -p "$WORK/uv/wheel" "$WORK/uv/root"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$WORK/uv/wheel" "uv==$uv_version"
  python3 -m zipfile -e "$WORK"/uv/wheel/uv-*.whl "$WORK/uv/unpacked"
  install -m 0755 "$WORK"/uv/unpacked/uv-*.data/scripts/uv "$WORK/uv/root/uv"
  tar -C "$WORK/uv/root" -c uv | "$DOCKER" import - "podpipe-uv:$uv_version" >/dev/null
fi
# The stand-in for python:3.11-slim: that rootfs plus the host's CA bundle, which uv and apt
# in the build then use (SSL_CERT_FILE), so a TLS-intercepting proxy the host trusts works.
rm -rf "$WORK/trust" && mkdir -p "$WORK/trust"
cp /etc/ssl/certs/ca-certificates.crt "$WORK/trust/"
printf 'FROM podpipe-bookworm-python:local\nCOPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\nENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt\n' >"$WORK/trust/Dockerfile"
DOCKER_BUILDKIT=0 "$DOCKER" build -q -t podpipe-python:local "$WORK/trust" >/dev/null
bases=(--build-arg PYTHON_IMAGE=podpipe-python:local --build-arg "UV_IMAGE=podpipe-uv:$uv_version"
  --build-arg PYTHON=/usr/bin/python3.11)
build podpipe-builder:local docker/base.Dockerfile --target builder "${bases[@]}" || exit 1
build podpipe-base:local docker/base.Dockerfile --target runtime "${bases[@]}" || exit 1

# --- services ------------------------------------------------------------------------------
failed=0
for service in $SERVICES; do
  build "podpipe-$service:local" "docker/$service.Dockerfile" || { failed=1; say "FAILED build $service"; }
done

# --- run each one hardened -----------------------------------------------------------------
declare -A extra=(
  [transcode]='import shutil, subprocess; print(subprocess.run([shutil.which("ffmpeg"), "-hide_banner", "-version"], capture_output=True, text=True, check=True).stdout.splitlines()[0])'
  [clips]='import shutil, subprocess; from podpipe.captions import find_font; assert find_font(), "no font for the captions"; print(subprocess.run([shutil.which("ffmpeg"), "-hide_banner", "-version"], capture_output=True, text=True, check=True).stdout.splitlines()[0])'
  [transcribe]='import os, pathlib; model = pathlib.Path(os.environ["PODPIPE_WHISPER_MODEL"]); assert (model / "model.bin").is_file(), model; print("whisper model", model)'
  [llm]='import podpipe_llm; print("prompt catalog ok")'
  [notify]='import subprocess; subprocess.run(["podpipe", "--help"], check=True, capture_output=True); print("podpipe CLI ok")'
  [promote]='import shutil, atproto; assert shutil.which("node") is None, "the local PDS tooling is test-only"; print("atproto SDK ok, no node")'
)
declare -A settings=([transcode]=TranscodeSettings [clips]=ClipsSettings [transcribe]=TranscribeSettings [llm]=LlmSettings [notify]=NotifySettings [promote]=PromoteSettings)
for service in $SERVICES; do
  "$DOCKER" image inspect "podpipe-$service:local" >/dev/null 2>&1 || { failed=1; continue; }
  check="import importlib, os; importlib.import_module('podpipe_$service.__main__'); \
from podpipe_$service.settings import ${settings[$service]} as S; S(); \
print('uid', os.getuid(), 'gid', os.getgid(), 'entry module and settings ok'); ${extra[$service]}"
  say "run podpipe-$service:local (read-only, --user 10001:10001, --cap-drop ALL, --network none)"
  if "$DOCKER" run --rm --read-only --tmpfs /tmp --user 10001:10001 --cap-drop ALL \
    --security-opt no-new-privileges --network none -e AWS_REGION=us-east-1 \
    "podpipe-$service:local" python -c "$check"; then
    say "ok podpipe-$service:local"
  else
    failed=1
    say "FAILED run podpipe-$service:local"
  fi
done

say "images-check finished in $(($(date +%s) - started_at)) s: $([ $failed = 0 ] && echo ok || echo FAILED)"
exit $failed
