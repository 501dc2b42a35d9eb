#!/usr/bin/env bash
# What the test suite needs beyond Python packages, installed once per machine:
# Open MPI (the MPI tests run mpirun; mpi4py builds against its headers) and PostgreSQL
# (the store tests start their own server with initdb/pg_ctl) and Chromium (the studio's
# browser tests drive /usr/bin/chromium with Playwright, no `playwright install`) from
# Debian's packages, and Azurite (the Azure Storage emulator) from npm into this project's .ci/.npm.
# `make test` calls this; it exits non-zero with a message naming what is missing when
# it cannot install it (no root, no sudo), instead of letting tests skip.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v mpirun >/dev/null || missing+=(openmpi-bin libopenmpi-dev)
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)

if ((${#missing[@]})); then
    if [ "$(id -u)" = 0 ]; then
        SUDO=()
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        echo "error: the test suite needs Debian packages that are not installed: ${missing[*]}" >&2
        echo "       install them with: sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "installing ${missing[*]} (apt-get)"
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .ci/.npm/node_modules/.bin/azurite-blob ]; then
    if ! command -v npm >/dev/null; then
        echo "error: the Azure Blob tests need Azurite, installed with npm; npm is missing" >&2
        echo "       install Node.js and npm (Debian: sudo apt-get install -y npm)" >&2
        exit 1
    fi
    echo "installing Azurite (npm) into .ci/.npm"
    npm install --no-audit --no-fund --silent --prefix .ci/.npm azurite@3
fi
