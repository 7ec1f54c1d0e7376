#!/usr/bin/env bash
# Set up this machine and run jupyter_samp's main job: a SAMP hub on this
# desktop that TOPCAT, DS9, Aladin and Python clients can join. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec python3 -m jupyter_samp hub "$@"
