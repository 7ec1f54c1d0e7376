"""The public surface, held: what the package and its data layer export, and the one error tree.

A change to these lists is a change to the API: make it on purpose, here.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import jupyter_samp
import jupyter_samp.data
import jupyter_samp.errors
from jupyter_samp.errors import SampError

ERRORS = [
    "AmbiguousClientError", "BadReplyError", "BlockedByBrowserError", "CallTimeoutError",
    "ClientTimeoutError", "DeliveryError", "ErrorResponse", "FetchError",
    "HubAlreadyRunningError", "HubFault", "HubUnavailableError", "InvalidRequestError",
    "InvalidValueError", "LocalFilesError", "MTypeBlockedError",
    "NoSuchClientError", "NotCallableError", "NotConnectedError", "NotRegisteredError",
    "NotSubscribedError", "ProtocolError", "RegistrationRefusedError", "SampError",
    "TransportError",
]
PACKAGE = sorted([
    *ERRORS, "BroadcastCall", "Client", "ClientEvent", "ClientInfo", "ClientView", "Hub",
    "Message", "Response", "SyncClient", "__version__", "connect", "connection",
    "load_ipython_extension",
])
DATA = [
    "DataBridge", "DeliveryError", "FetchError", "ImageHandle", "Receipt", "Received", "Resource",
    "ResourceServer", "TableEvent", "TableHandle", "TableReceipt", "bridge_for", "load_bibcode",
    "point_at", "send_image", "send_spectrum", "send_table", "sky_position",
]
#: Errors of the HTTP framing layer: raised inside the transport and answered
#: there as HTTP errors; a user who meets one catches it as ProtocolError.
TRANSPORT_INTERNAL = {"FramingError", "BodyTooLarge"}


def test_the_package_exports() -> None:
    assert sorted(jupyter_samp.__all__) == PACKAGE
    for name in PACKAGE:
        assert getattr(jupyter_samp, name) is not None


def test_the_data_package_exports() -> None:
    assert sorted(jupyter_samp.data.__all__) == DATA
    for name in DATA:
        assert getattr(jupyter_samp.data, name) is not None


def _every_module() -> list[str]:
    prefix = jupyter_samp.__name__ + "."
    return [info.name for info in pkgutil.walk_packages(jupyter_samp.__path__, prefix)
            if not info.name.endswith("__main__")]


def test_every_error_is_in_the_one_tree_and_exported() -> None:
    found = {}
    for name in _every_module():
        module = importlib.import_module(name)
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, SampError):
                found[value.__name__] = value
    public = {name: cls for name, cls in found.items() if name not in TRANSPORT_INTERNAL}
    assert sorted(public) == ERRORS
    for name, cls in public.items():
        assert cls.__module__ == "jupyter_samp.errors", f"{name} is defined in {cls.__module__}"
        assert getattr(jupyter_samp, name) is cls
    assert set(ERRORS) <= set(jupyter_samp.errors.__all__)
