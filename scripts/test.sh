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

# An isolated virtual environment (reused between runs) keeps the machine's Python clean.
venv="${ALTTEXT_VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$py" -m pip install --quiet --disable-pip-version-check -e ".[test,ocr]"

"$py" -m ruff check .
"$py" -m ruff format --check alttext
"$py" -m mypy
CI="${CI:-}" "$py" -m pytest "$@"
