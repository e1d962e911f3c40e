#!/bin/sh
# A throwaway PostgreSQL for trying the PostgreSQL state and `connector worker` by hand: installs
# Debian's postgresql package if its binaries are missing (as root), starts a server on a free
# port of 127.0.0.1, prints its URL, and removes it all on Ctrl-C.
#   scripts/postgres.sh
#   CONNECTOR_STATE_URL=<the URL printed> connector worker examples/acme
set -e
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -m engine.state.postgres.local
