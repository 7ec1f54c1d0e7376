"""The widget whose front end carries the browser route (an anywidget module).

Creating it is what starts the relay in the page: the module's
``initialize`` runs once the front end knows the widget's model, displayed or
not, and again when a reloaded page restores it. Displayed, it shows one
status line.
"""

from __future__ import annotations

from importlib.resources import files

import anywidget
import traitlets

#: Where the page finds the desktop hub's Web Profile (SAMP 1.3, section 5).
DEFAULT_HUB_URL = "http://127.0.0.1:21012/"


def relay_module() -> str:
    """The front end's ES module: the Web Profile client, then the relay on it."""
    static = files("jupyter_samp.remote").joinpath("static")
    client = static.joinpath("samp-web-client.js").read_text(encoding="utf-8")
    relay = static.joinpath("relay.js").read_text(encoding="utf-8")
    return f"{client}\n{relay}"


class RelayWidget(anywidget.AnyWidget):
    """The browser end of one kernel's route to the desktop hub.

    Parameters
    ----------
    token : str
        The registration token (the server extension's capability).
    hub_url : str
        The Web Profile endpoint the page calls.
    """

    _esm = traitlets.Unicode(relay_module()).tag(sync=True)
    token = traitlets.Unicode("").tag(sync=True)
    hub_url = traitlets.Unicode(DEFAULT_HUB_URL).tag(sync=True)
    status = traitlets.Unicode("SAMP: reaching the hub on your computer...").tag(sync=True)
