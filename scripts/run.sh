#!/usr/bin/env bash
# Set up this machine and run jupyter_samp's main job: JupyterLab on the
# quickstart notebook, which connects to the SAMP hub on this desktop (or
# starts one) next to TOPCAT, DS9 and the rest. Extra arguments go to JupyterLab.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python3 -m pip install -q --disable-pip-version-check -e ".[lab]"
# The printed URL opens the quickstart itself, not the Launcher.
options=(--ServerApp.ip=127.0.0.1 --LabApp.default_url=/lab/tree/notebooks/quickstart.ipynb)
[ -n "${DISPLAY:-}" ] || options+=(--no-browser)
# These machines (and CI) run as root; JupyterLab refuses root unless told.
[ "$(id -u)" -ne 0 ] || options+=(--allow-root)
exec python3 -m jupyterlab "${options[@]}" "$@"
