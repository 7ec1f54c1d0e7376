"""Asking a desktop client for consent to a web registration, over SAMP itself.

A hub started in a child process for a notebook has no terminal and no
window to ask in. With ``--web-consent samp`` it asks instead: it calls
``x-jupyter-samp.web.consent`` on a Standard Profile client that subscribes to
it (the notebook, which shows a dialog) and registers the page only if that
client answers ``{"allow": "1"}``. Standard Profile clients already hold the
hub's secret and can do anything a web page could, so trusting their answer
gives a page no more than the user agreed to.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

from jupyter_samp.core.model import ClientRecord, Deliver
from jupyter_samp.core.values import decode_bool
from jupyter_samp.hub.service import HubService

log = logging.getLogger("jupyter_samp.hub.web")

CONSENT_MTYPE = "x-jupyter-samp.web.consent"


class HubInbox:
    """Receives the responses to calls the hub itself made, by msg-tag."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tags = itertools.count(1)

    def expect(self) -> tuple[str, asyncio.Future[dict[str, Any]]]:
        """A fresh tag and the future its response will resolve."""
        tag = f"hub-{next(self._tags)}"
        future = self._waiting[tag] = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda _: self._waiting.pop(tag, None))
        return tag, future

    def deliver(self, effect: Deliver) -> None:
        """Take a ``receiveResponse`` addressed to the hub."""
        if effect.method != "receiveResponse":
            return
        _, tag, response = effect.params
        future = self._waiting.get(tag)
        if future is not None and not future.done():
            future.set_result(response)

    def forget(self, client: ClientRecord, reason: str) -> None:
        """Nothing to drop."""


class SampConsent:
    """A consent callable that asks a subscribed Standard Profile client.

    Parameters
    ----------
    service : HubService
        The hub whose router sends the question.
    timeout : float, optional
        Seconds the hub waits for an answer; sent with the question as the
        ``timeout`` parameter, so the asker can close its dialog when the
        hub has given up.
    """

    def __init__(self, service: HubService, timeout: float | None = None) -> None:
        self.service = service
        self.timeout = timeout
        self.inbox = HubInbox()
        service.deliverers["hub"] = self.inbox

    async def __call__(self, request: Any) -> bool:
        """Ask, and return True only if the asked client allows it.

        A missing asker, an error response, a refusal or no answer (the
        caller's timeout applies) all count as a refusal.
        """
        asker = self._asker()
        if asker is None:
            log.warning("no client answers %s: refusing the web page %r", CONSENT_MTYPE,
                        request.name)
            return False
        tag, answer = self.inbox.expect()
        message = {"samp.mtype": CONSENT_MTYPE, "samp.params": _describe(request, self.timeout)}
        hub_key = self.service.router.registry.hub.private_key
        self.service.run(lambda router: router.call(
            hub_key, asker.public_id, tag, message, now=asyncio.get_running_loop().time()))
        response = await answer
        result = response.get("samp.result") or {}
        allowed = response.get("samp.status") == "samp.ok" and decode_bool(result.get("allow"))
        log.info("%s %s the web page %r", asker.label, "allowed" if allowed else "refused",
                 request.name)
        return allowed

    def _asker(self) -> ClientRecord | None:
        registry = self.service.router.registry
        askers = [r for r in registry.clients()
                  if r.profile == "standard" and r.callback is not None
                  and CONSENT_MTYPE in r.subscriptions]
        return askers[-1] if askers else None


def _describe(request: Any, timeout: float | None) -> dict[str, str]:
    params = {
        "name": request.name,
        "origin": request.origin or "",
        "url": request.referer or "",
        "mismatch": "1" if request.mismatch else "0",
        "text": "\n".join(request.describe()),
    }
    if timeout is not None:
        params["timeout"] = f"{timeout:g}"
    return params
