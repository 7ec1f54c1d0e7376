"""Which way a notebook reaches SAMP: a hub on this machine, or the desktop's through the browser.

``connect()`` tries, in order:

1. a hub on this machine (the lockfile of ``SAMP_HUB`` or ``~/.samp``), as
   any SAMP application does;
2. when the kernel has a front end, the browser route
   (:mod:`jupyter_samp.remote`): the page registers with the hub on the
   computer the browser runs on. On a server (JupyterHub, a science
   platform) this is the only way to the user's TOPCAT and DS9;
3. a hub started here (embedded), when the page is on this machine too or
   no front end answers (a notebook run headless).

A browser that blocks the page from the local hub, or a remote page that
finds no hub, is an error that says what to do: a hub started in a remote
kernel would serve nobody.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jupyter_samp.client.hubproxy import StandardHubProxy
from jupyter_samp.errors import (
    BlockedByBrowserError,
    ClientTimeoutError,
    HubUnavailableError,
    SampError,
)
from jupyter_samp.lockfile import lockfile_url
from jupyter_samp.remote.route import BrowserRoute

#: Seconds to wait for a front end to answer before deciding there is none.
FRONT_END_WAIT = 5.0
#: The same when the browser route was asked for explicitly.
BROWSER_WAIT = 60.0
#: What to say when the Jupyter server lets no one download without a login.
LOGIN_WARNING = (
    "this Jupyter server asks for a login on every address, so TOPCAT and DS9 cannot "
    "download the tables and images sent to them; ask its administrator to let "
    "/jupyter-samp/data/ through without a login (see 'Notebooks on a server' in the docs)"
)


@dataclass
class Choice:
    """The route chosen, and why, in words for the user."""

    kind: str  # "local" or "browser"
    reason: str
    browser: BrowserRoute | None = None


async def choose_route(mode: str, name: str, hub: Any = None) -> Choice:
    """Decide how to connect for ``mode`` ("auto", "start", "connect" or "browser").

    Raises
    ------
    BlockedByBrowserError
        The browser keeps the page from the hub on the user's computer.
    HubUnavailableError
        The browser route was needed (or asked for) and reaches no hub.
    """
    if mode in ("start", "connect"):
        return Choice("local", "a hub on this machine, as asked")
    if mode == "auto":
        if await local_hub_answers(hub):
            return Choice("local", "a hub runs on this machine")
        if not has_front_end():
            return Choice("local", "no hub runs here and no browser front end: one starts here")
    route = await BrowserRoute(name).open()
    try:
        await route.check(BROWSER_WAIT if mode == "browser" else FRONT_END_WAIT)
    except ClientTimeoutError:
        await route.close()
        if mode == "browser":
            raise HubUnavailableError(
                "no browser page answered for this notebook: the browser route needs the "
                "notebook open in JupyterLab or Notebook 7 (with widgets)"
            ) from None
        return Choice("local", "no browser front end answered: a hub starts here")
    except BlockedByBrowserError:
        await route.close()
        raise
    except HubUnavailableError:
        local = route.page_is_local()
        await route.close()
        if mode == "auto" and local:
            return Choice("local", "no hub runs on this computer yet: one starts here")
        raise
    reason = (f"through your browser, to the hub on your computer at {route.hub_url} "
              f"(no hub on the kernel's machine)")
    if route.data_needs_login:
        reason += (f"; WARNING: {LOGIN_WARNING}")
    return Choice("browser", reason, route)


async def local_hub_answers(hub: Any = None) -> bool:
    """Whether a hub named by the lockfile (``hub``, else ``SAMP_HUB`` or ``~/.samp``) answers."""
    url = str(hub) if hub is not None else lockfile_url()
    if "://" not in url and not url.startswith("file:"):
        from pathlib import Path

        url = Path(url).resolve().as_uri()
    proxy = StandardHubProxy(url)
    try:
        proxy.read_lockfile()
        await proxy.ping(timeout=3.0)
    except SampError:
        return False
    finally:
        proxy.close()
    return True


def has_front_end() -> bool:
    """Whether this code runs in a Jupyter kernel, whose front end may show widgets."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None
