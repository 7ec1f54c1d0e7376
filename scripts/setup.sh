#!/usr/bin/env bash
# Install everything jupyter_samp and its test suite need on a Debian machine:
# the Python package with its test extras, and the real SAMP peers the tests
# run against (JSAMP, TOPCAT, STILTS, DS9, Aladin), Java, Xvfb and Chromium, and
# unshare and ip for the tests that run a kernel in its own network namespace.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(default-jre-headless jsamp topcat stilts saods9 aladin xvfb xdotool x11-utils
                 imagemagick chromium util-linux iproute2)

missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

python3 -m pip install -q --disable-pip-version-check -e ".[test]"
