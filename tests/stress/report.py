"""Where the stress tier writes its figures (``artifacts/stress/`` in the repository)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "stress"


def record(name: str, figures: dict[str, Any]) -> Path:
    """Write ``figures`` as ``artifacts/stress/<name>.json`` and return the path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return path


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process in MiB (Linux ``VmHWM``)."""
    return _status_kb(pid, "VmHWM") / 1024


def rss_mb(pid: int) -> float:
    """Current resident memory of a process in MiB (Linux ``VmRSS``)."""
    return _status_kb(pid, "VmRSS") / 1024


def _status_kb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    raise LookupError(f"no {field} for process {pid}")
