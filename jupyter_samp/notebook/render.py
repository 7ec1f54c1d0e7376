"""Rich, read-only renderings of the SAMP state for cell output."""

from __future__ import annotations

import html
from typing import Any

from jupyter_samp.notebook.model import SampState

# MTypes worth naming when saying what an application accepts.
HEADLINE_MTYPES = (
    ("table.load.votable", "tables"),
    ("image.load.fits", "images"),
    ("spectrum.load.ssa-generic", "spectra"),
    ("coord.pointAt.sky", "sky positions"),
    ("table.select.rowList", "row selections"),
)


class Rendered:
    """HTML with a plain-text fallback, as IPython displays it."""

    def __init__(self, html_text: str, text: str) -> None:
        self.html = html_text
        self.text = text

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text


def accepts_summary(subscriptions: list[str]) -> str:
    """Say in words what an application accepts, from its subscription patterns."""
    from jupyter_samp.core.mtypes import Subscriptions

    table = Subscriptions({pattern: {} for pattern in subscriptions})
    return ", ".join(words for mtype, words in HEADLINE_MTYPES if mtype in table) or "-"


def status_line(state: SampState) -> Rendered:
    """One line: connected or not, to which hub, with how many applications."""
    if not state.connected:
        text = f"SAMP: {state.status}"
        return Rendered(f'<span style="color:#a60">{html.escape(text)}</span>', text)
    apps = [entry["name"] for entry in state.clients if not entry["is_hub"]]
    if state.route == "browser":
        text = (f"SAMP: connected as {state.self_id} {state.route_reason}; "
                f"applications: {', '.join(apps) or 'none'}")
    else:
        kind = state.hub.get("kind", "external")
        text = (f"SAMP: connected as {state.self_id} to the {kind} hub at "
                f"{state.hub.get('url')}; applications: {', '.join(apps) or 'none'}")
    return Rendered(f'<span style="color:#060">{html.escape(text)}</span>', text)


def apps_table(state: SampState) -> Rendered:
    """A table of the connected applications: icon, name, id, what they accept."""
    rows, lines = [], []
    for entry in state.clients:
        if entry["is_hub"]:
            continue
        accepts = accepts_summary(entry["subscriptions"])
        if not entry.get("subscriptions_known", True):
            accepts = "(subscriptions pending)"
        icon = _icon(entry["icon_url"])
        rows.append(f"<tr><td>{icon}</td><td><b>{html.escape(entry['name'])}</b></td>"
                    f"<td>{html.escape(entry['id'])}</td><td>{html.escape(accepts)}</td></tr>")
        lines.append(f"{entry['name']} ({entry['id']}): {accepts}")
    if not rows:
        return Rendered("<i>No application is connected to the hub.</i>",
                        "No application is connected to the hub.")
    head = "<tr><th></th><th>application</th><th>id</th><th>accepts</th></tr>"
    return Rendered(f"<table>{head}{''.join(rows)}</table>", "\n".join(lines))


def log_table(state: SampState, last: int = 30) -> Rendered:
    """The most recent log entries, newest last."""
    entries = state.log[-last:]
    if not entries:
        return Rendered("<i>No SAMP messages yet.</i>", "No SAMP messages yet.")
    rows = "".join(
        f"<tr><td>{html.escape(e['time'])}</td><td>{html.escape(e['text'])}</td></tr>"
        for e in entries
    )
    text = "\n".join(f"{e['time']} {e['text']}" for e in entries)
    return Rendered(f"<table>{rows}</table>", text)


def _icon(url: Any) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://", "data:")):
        return ""
    return f'<img src="{html.escape(url)}" width="24" height="24" alt="">'
