"""``WebProfileDialog``: astropy's way for a GUI to ask the user about a web page.

The hub puts each registration request on the dialog's ``queue_request``
and waits for ``True`` or ``False`` on its ``queue_result``. The GUI polls
:meth:`WebProfileDialog.handle_queue` from its own event loop, which calls
``show_dialog(samp_name, details, client, origin)``; the user's answer goes
back with :meth:`consent` or :meth:`reject`. :func:`dialog_consent` turns
such a dialog into the consent callable our hub awaits; the waiting happens
in a worker thread, so the hub keeps routing while the user decides.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any

from jupyter_samp.hub.web import Consent, WebRegistration

__all__ = ["WebProfileDialog"]


class WebProfileDialog:
    """Base class of a Web Profile consent dialog.

    A subclass defines ``show_dialog(samp_name, details, client, origin)``,
    which shows the request and later calls :meth:`consent` or
    :meth:`reject`, and polls :meth:`handle_queue` periodically. The hub
    sets ``queue_request`` and ``queue_result`` when it starts.
    """

    queue_request: queue.Queue[Any]
    queue_result: queue.Queue[bool]

    def handle_queue(self) -> None:
        """Show the next waiting request, if there is one (does nothing otherwise)."""
        pending: queue.Queue[Any] | None = getattr(self, "queue_request", None)
        if pending is None:
            return
        try:
            details, client, origin = pending.get_nowait()
        except queue.Empty:
            return
        name = details if isinstance(details, str) else details.get("samp.name", "")
        self.show_dialog(name, details, client, origin)

    def show_dialog(self, samp_name: str, details: Any, client: Any, origin: str) -> None:
        """Show one request to the user; a subclass must define it."""
        raise NotImplementedError("a WebProfileDialog subclass must define show_dialog")

    def consent(self) -> None:
        """Allow the request being shown."""
        self.queue_result.put(True)

    def reject(self) -> None:
        """Refuse the request being shown."""
        self.queue_result.put(False)


def dialog_consent(dialog: Any, timeout: float | None) -> Consent:
    """The hub's consent callable for ``dialog``; one request is shown at a time.

    A request the dialog does not answer within ``timeout`` seconds is refused.
    """
    dialog.queue_request = queue.Queue()
    dialog.queue_result = queue.Queue()
    one_at_a_time = threading.Lock()

    def ask(request: WebRegistration) -> bool:
        with one_at_a_time:
            details = {"samp.name": request.name}
            dialog.queue_request.put((details, (request.address, 0), request.origin or "unknown"))
            try:
                return dialog.queue_result.get(timeout=timeout) is True
            except queue.Empty:
                return False

    async def consent(request: WebRegistration) -> bool:
        return await asyncio.get_running_loop().run_in_executor(None, ask, request)

    return consent
