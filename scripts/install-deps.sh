#!/usr/bin/env bash
# Installs what the build and the tests need beyond Rust itself, when missing:
# libpq (PostgreSQL client library, for diesel), the PostgreSQL server
# binaries (for the test cluster), and headless Chromium with chromedriver
# (for the web admin's browser test), and redis-server (the rate limit tests
# of KeyLimits::redis start their own). Debian/Ubuntu; needs root (or sudo) only
# when something is missing.
set -euo pipefail
missing=()
dpkg -s libpq-dev >/dev/null 2>&1 || missing+=(libpq-dev)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps.sh: installing ${missing[*]}" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
