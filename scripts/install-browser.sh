#!/bin/sh
# Headless Chromium and its WebDriver for the operations page's browser tests (tests/ui/browser).
# Installs the Debian packages `chromium` and `chromium-driver` when /usr/bin/chromium is missing;
# needs root (or sudo without a password) and the apt registry. Exits 0 when both are there.
set -eu

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "install-browser: not root and no password-less sudo; install chromium and chromium-driver by hand" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: no apt-get here; install chromium and chromium-driver by hand" >&2
    exit 1
fi
# Parallel test workers (and the PostgreSQL fixture) may want apt at the same moment; apt refuses a
# second caller outright, so every installer queues on one lock file (see engine/state/postgres/local.py).
if command -v flock >/dev/null 2>&1; then
    exec 9>/tmp/connector-apt.lock
    flock 9
    if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]
