#!/usr/bin/env bash
# Install everything the test suite needs, then lint, type-check and run it.
# Used by CI (.ci/run) and by developers: `bash scripts/test.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

# A real headless browser for the axe-core parity tests (Debian/Ubuntu).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
    $apt_get update -qq
    DEBIAN_FRONTEND=noninteractive $apt_get install -y -qq --no-install-recommends chromium >/dev/null
fi
# axe-core, pinned in tests/axe/package-lock.json.
if command -v npm >/dev/null 2>&1; then
    (cd tests/axe && npm ci --no-audit --no-fund --silent)
fi

python3 -m pip install --quiet --disable-pip-version-check -e ".[test,ocr]"

python3 -m ruff check alttext tests bench fixtures
python3 -m ruff format --check alttext
python3 -m mypy
python3 -m pytest "$@"
