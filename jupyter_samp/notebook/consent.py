"""The notebook's consent dialog: may this web page join the hub?

A hub started from the notebook with the Web Profile on asks the notebook
(over SAMP) before it admits a web page; the session shows one of these
dialogs for each request, and the user's click answers the hub.
"""

from __future__ import annotations

import asyncio
import html
from typing import Any

import ipywidgets as widgets


class ConsentDialog(widgets.VBox):
    """Asks the user whether a web page may join the hub: Allow or Deny.

    ``answer`` is a future that the first click resolves (True for Allow).
    The hub refuses the page if nobody answers in time.
    """

    def __init__(self, request: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("jupyter-samp-consent")
        self.request = request
        self.answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        text = html.escape(str(request.get("text", ""))).replace("\n", "<br>")
        self.allow = widgets.Button(description="Allow", button_style="warning")
        self.deny = widgets.Button(description="Deny", button_style="success")
        self.allow.on_click(lambda _: self._decide(True))
        self.deny.on_click(lambda _: self._decide(False))
        self.outcome = widgets.HTML()
        self.children = (widgets.HTML(f"<div style='font-family:monospace'>{text}</div>"),
                         widgets.HBox([self.deny, self.allow]), self.outcome)

    def _decide(self, allowed: bool) -> None:
        if self.answer.done():
            return
        self.answer.set_result(allowed)
        self._close("<b>allowed</b>" if allowed else "<b>refused</b>")

    def expire(self) -> None:
        """The hub stopped waiting: the page was refused; the buttons no longer act."""
        if not self.answer.done():
            self.answer.set_result(False)
            self._close("<b>refused</b>: no answer in time")

    def _close(self, outcome: str) -> None:
        self.allow.disabled = self.deny.disabled = True
        self.outcome.value = outcome
