#!/usr/bin/env bash
# Installs everything the project needs into the repository itself, from pinned versions:
#   .venv-tools/  a tiny venv holding the pinned `uv`
#   .venv/        the uv workspace environment, synced exactly from uv.lock
# Idempotent and quiet when nothing changed; safe to call before every make target.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION="0.13.9"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv-tools/bin/uv ] || [ "$(.venv-tools/bin/uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  echo "bootstrap: installing uv $UV_VERSION into .venv-tools/" >&2
  "$PYTHON" -m venv .venv-tools
  .venv-tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
export UV_PYTHON="$PYTHON" UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=.venv
.venv-tools/bin/uv sync --frozen --all-packages --quiet
