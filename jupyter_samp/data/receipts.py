"""What happened to a message sent to several applications: who got it, who said what.

A :class:`Receipt` is returned by every ``send_*`` function of the data
bridge. It never raises by itself: an application that failed or did not
answer in time is recorded with the reason, and :meth:`Receipt.raise_for_failure`
turns failures into an exception for callers who prefer one.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from jupyter_samp.core.message import Response
from jupyter_samp.errors import DeliveryError


@dataclass
class Receipt:
    """The outcome of one send, per recipient.

    Attributes
    ----------
    mtype : str
        The MType sent.
    params : dict
        Its parameters (as sent, before SAMP encoding).
    recipients : dict
        Client id -> application name, for every application the message
        was addressed to.
    responses : dict
        Client id -> :class:`~jupyter_samp.client.Response`, for those that answered.
    failures : dict
        Client id -> why it failed without answering (refused by the hub,
        no response in time), in words.
    url : str or None
        The URL of the data sent, if any (the first, when recipients got
        different ones).
    transports : dict
        Client id -> how the data went to it, e.g. ``"file, fits"`` or
        ``"http, votable (the file:// URL failed: ...)"``; empty for
        messages that carry no data.
    note : str
        What the sender chose for the user, in words (whom a default send
        left out, ...); empty when there is nothing to say.
    """

    mtype: str
    params: dict[str, Any]
    recipients: dict[str, str] = field(default_factory=dict)
    responses: dict[str, Response] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    timed_out: list[str] = field(default_factory=list)
    url: str | None = None
    transports: dict[str, str] = field(default_factory=dict)
    note: str = ""

    @property
    def ok(self) -> list[str]:
        """Ids of the applications that answered ``samp.ok`` or ``samp.warning``."""
        return [cid for cid, r in self.responses.items() if r.status != "samp.error"]

    @property
    def warnings(self) -> dict[str, str]:
        """Id -> warning text, for ``samp.warning`` answers."""
        return {
            cid: r.errortxt or "" for cid, r in self.responses.items() if r.status == "samp.warning"
        }

    @property
    def failed(self) -> dict[str, str]:
        """Id -> reason, for every recipient that did not succeed (errors and timeouts)."""
        reasons = dict(self.failures)
        for cid, response in self.responses.items():
            if response.status == "samp.error":
                reasons[cid] = response.errortxt or "samp.error without a message"
        return reasons

    @property
    def succeeded(self) -> bool:
        """True if there was at least one recipient and none failed."""
        return bool(self.recipients) and not self.failed

    def name(self, client_id: str) -> str:
        """The application name of a recipient (its id if unknown)."""
        return self.recipients.get(client_id, client_id)

    def outcome(self) -> str:
        """The outcome in one line: ``loaded by topcat; failed: ds9 (reason)``."""
        if not self.recipients:
            return "no recipient"
        failed = self.failed
        parts = []
        loaded = [self.name(cid) for cid in self.recipients if cid not in failed]
        if loaded:
            parts.append(f"done by {', '.join(loaded)}")
        parts += [f"failed in {self.name(cid)}: {reason}" for cid, reason in failed.items()
                  if cid in self.recipients]
        return "; ".join(parts)

    def summary(self) -> str:
        """One line per recipient, e.g. ``topcat (c3): samp.ok``."""
        if not self.recipients:
            return f"{self.mtype}: no recipient"
        lines = [f"{self.mtype}:"]
        failed = self.failed
        for cid in self.recipients:
            if cid in failed:
                state = f"failed: {failed[cid]}"
            elif cid in self.warnings:
                state = f"samp.warning: {self.warnings[cid]}"
            else:
                state = "samp.ok"
            via = f" [{self.transports[cid]}]" if cid in self.transports else ""
            lines.append(f"  {self.name(cid)} ({cid}): {state}{via}")
        if self.note:
            lines.append(f"  ({self.note})")
        return "\n".join(lines)

    def raise_for_failure(self) -> Receipt:
        """Return self, or raise :class:`DeliveryError` if any recipient failed.

        Raises
        ------
        DeliveryError
            Some recipient answered ``samp.error``, was refused by the hub, or
            did not answer in time; the exception carries this receipt.
        """
        if self.failed:
            raise DeliveryError(self)
        return self

    def __repr__(self) -> str:
        return f"<Receipt {self.summary()}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.summary())

    def _repr_html_(self) -> str:
        """A small table: one row per recipient, green for loaded, red for failed."""
        if not self.recipients:
            return f"<i>{html.escape(self.mtype)}: no recipient</i>"
        failed, warnings = self.failed, self.warnings
        rows = []
        for cid in self.recipients:
            if cid in failed:
                colour, state = "#b00", f"failed: {failed[cid]}"
            elif cid in warnings:
                colour, state = "#a60", f"warning: {warnings[cid]}"
            else:
                colour, state = "#060", "ok"
            via = html.escape(self.transports.get(cid, ""))
            rows.append(f"<tr><td><b>{html.escape(self.name(cid))}</b> ({html.escape(cid)})</td>"
                        f"<td style='color:{colour}'>{html.escape(state)}</td>"
                        f"<td>{via}</td></tr>")
        caption = f"<caption style='text-align:left'>{html.escape(self.mtype)}</caption>"
        if self.note:
            rows.append(f"<tr><td colspan='3'><i>{html.escape(self.note)}</i></td></tr>")
        return f"<table>{caption}{''.join(rows)}</table>"
