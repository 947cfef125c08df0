#!/usr/bin/env bash
# Regenerate apikey-core/tests/vectors/django.json with the real
# djangorestframework-api-key + Django (pinned in django-requirements.txt).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$("$REPO/scripts/django-venv.sh" | tail -n1)"
OUT="$REPO/apikey-core/tests/vectors/django.json"
mkdir -p "$(dirname "$OUT")"
"$PY" "$REPO/scripts/django_vectors.py" --out "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "wrote $OUT" >&2
