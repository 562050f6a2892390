#!/bin/sh
# Creates .venv-interop at the package root with py-event-sourcing 1.0.3, the Python package whose
# SQLite files SQLiteEventStore must read and write. Tests/SQLiteStoreTests/PythonInteropTests.swift
# uses it and skips itself when it is missing.
#
# Idempotent, and it never fails its caller: without python3 or without the network it prints one
# line saying the interop tests will be skipped and exits 0.
set -u

root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
venv="$root/.venv-interop"
version="1.0.3"

skip() {
    echo "setup-python-interop: $1; the Python interop tests will be skipped."
    exit 0
}

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import py_event_sourcing" >/dev/null 2>&1; then
    exit 0
fi

command -v python3 >/dev/null 2>&1 || skip "python3 not found"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" >/dev/null 2>&1 || {
        rm -rf "$venv"
        skip "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    }
fi

"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --retries 2 --timeout 20 \
    "py-event-sourcing==$version" >/dev/null 2>&1 ||
    skip "pip could not install py-event-sourcing==$version (no network?)"

"$venv/bin/python" -c "import py_event_sourcing" >/dev/null 2>&1 ||
    skip "py-event-sourcing installed but does not import"

echo "setup-python-interop: py-event-sourcing $version ready in $venv"
