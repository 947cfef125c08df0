#!/usr/bin/env bash
# Create (if missing) a cached venv with the pinned Django reference stack
# from scripts/django-requirements.txt; print its python path as the last line.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQ="$REPO/scripts/django-requirements.txt"
VENV="${APIKEY_DJANGO_VENV:-$REPO/target/django-venv}"
PY="${PYTHON:-python3}"
MARKER="$VENV/.requirements.sha256"
want="$( { cat "$REQ"; "$PY" -c 'import sys; print(sys.version_info[:2])'; } | sha256sum | cut -d' ' -f1)"

if [[ ! -x "$VENV/bin/python" || ! -f "$MARKER" || "$(cat "$MARKER")" != "$want" ]]; then
  echo "django-venv: building $VENV" >&2
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-input -r "$REQ" >&2
  "$VENV/bin/python" -c 'import django, rest_framework, rest_framework_api_key, psycopg2' >&2
  echo "$want" > "$MARKER"
fi
echo "$VENV/bin/python"
