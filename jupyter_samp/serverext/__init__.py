"""The Jupyter server extension of the browser route (see :mod:`jupyter_samp.remote`).

It adds two endpoints under the server's base URL:

``jupyter-samp/data/<token>/<resource>/<file>``
    A kernel's published tables and images, streamed from the kernel's
    resource server, *without a login*: TOPCAT and DS9 cannot log in. Only
    the resources of kernels that registered (``<token>``) are reachable, and
    each resource has its own unguessable path, as on the kernel's server.
``jupyter-samp/relay/<token>``
    The websocket between the notebook's page and its kernel's relay, for
    the logged-in user only.

Installing the package enables it (``jupyter_server_config.d``); by hand,
``jupyter server extension enable jupyter_samp.serverext``.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "jupyter_samp.serverext"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Add the endpoints to the running server."""
    from jupyter_samp.serverext.handlers import handlers

    web_app = serverapp.web_app
    web_app.add_handlers(".*$", handlers(web_app.settings["base_url"]))
    serverapp.log.info("jupyter_samp: the browser route to desktop SAMP hubs is enabled")
