"""Running pyvo.samp's own test suite (and astropy.samp's copy) with its classes replaced by ours.

pyvo ships its SAMP tests in ``pyvo/samp/tests``, astropy in
``astropy/samp/tests``. The ``test_pyvo_*`` and ``test_astropy_*`` modules
here import them unchanged (``from pyvo.samp.tests.test_x import *``) while
:func:`replaced` has put our classes, errors and constants in place of
theirs in every module of ``pyvo.samp`` and ``astropy.samp``, so the names
those tests bind at import are ours; the ``conftest`` does the same again
around every test, so whatever they look up while running is ours too.

Two shims, each for a test that relies on something that is not SAMP and
that JSAMP's hub refuses as well (``test_jsamp_refuses.py`` shows it):

* ``INT_SHIM``: ``test_helpers.random_params`` puts the Python int 1331 in a
  message, which ``xmlrpc.client`` sends as ``<int>``; SAMP values are
  strings, lists and maps only. The shim gives the same params with that
  int as the string ``"1331"``.
* ``RPC2_SHIM``: ``web_profile_test_helpers`` points ``xmlrpc.client`` at
  ``http://127.0.0.1:<port>``, which posts to ``/RPC2``; the Web Profile's
  endpoint is ``/``. The shim adds the ``/`` to a URL without a path.

One setting, ``PORT_SHIM``, keeps the tests hermetic: their hubs would take
the Web Profile's fixed port 21012 (SAMPHubServer's default, as in astropy),
which tests on a shared machine must not hold; inside :func:`replaced` that
default is 0 (a free port). A test that names its port keeps it.

And one fix, ``CLOSE_FIX``, for a bug in pyvo's test support rather than in
anything SAMP: ``pyvo.samp.utils.ServerProxyPool.shutdown`` calls
``proxy("close")``, which *returns* ``xmlrpc.client.ServerProxy``'s close
method without calling it, so the Web Profile helper's sockets are left to
the garbage collector; that is a ResourceWarning, and warnings are errors
here. The pools the helper makes close their connections when shut down.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import os
import pkgutil
import queue
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import jupyter_samp.compat as compat

#: The packages whose test suites run here: pyvo.samp, and astropy.samp's copy.
PACKAGES = ("pyvo.samp", "astropy.samp")
#: Submodules of theirs that hold none of the replaced names' users.
_SKIPPED = {"tests", "setup_package", "data"}


def package_modules(package: str) -> list[str]:
    """The package and every module in it (its tests excepted)."""
    root = import_quietly(package)
    return [package, *(f"{package}.{info.name}" for info in pkgutil.iter_modules(root.__path__)
                       if info.name not in _SKIPPED)]


def import_quietly(name: str) -> Any:
    """Import ``name``; astropy.samp warns once that it is deprecated, which is not news."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"astropy\.samp was deprecated")
        return importlib.import_module(name)


#: The names replaced (where a module has them): the classes, errors and constants.
REPLACED = (
    "SAMPHubServer", "SAMPHubProxy", "SAMPClient", "SAMPIntegratedClient",
    "WebProfileDialog", "SAMPHubError", "SAMPClientError", "SAMPProxyError",
    "SAMPProxyTimeoutError", "SAMPWarning", "SAMP_STATUS_OK", "SAMP_STATUS_WARNING",
    "SAMP_STATUS_ERROR",
)


def _stringify_ints(params: dict[str, Any]) -> dict[str, Any]:
    return {key: str(value) if isinstance(value, int) else value
            for key, value in params.items()}


def int_shim(original: Callable[[str], dict[str, Any]]) -> Callable[[str], dict[str, Any]]:
    """INT_SHIM: ``random_params`` with its int parameter made a SAMP string."""

    def random_params(directory: str) -> dict[str, Any]:
        return _stringify_ints(original(directory))

    return random_params


def rpc2_shim(original: Callable[..., Any]) -> Callable[..., Any]:
    """RPC2_SHIM: ``ServerProxyPool`` with ``/`` added to a URL that has no path.

    The pools it makes also close their connections on ``shutdown`` (CLOSE_FIX).
    """

    def server_proxy_pool(size: int, proxy_class: Any, url: str, *args: Any,
                          **keywords: Any) -> Any:
        if url.count("/") == 2:
            url += "/"
        pool = original(size, proxy_class, url, *args, **keywords)
        pool.shutdown = functools.partial(_close_all, pool._proxies)
        return pool

    return server_proxy_pool


def _close_all(proxies: queue.Queue[Any]) -> None:
    """CLOSE_FIX: close every ``ServerProxy`` in the pool (``proxy("close")`` is the method)."""
    while True:
        try:
            proxy = proxies.get_nowait()
        except queue.Empty:
            return
        proxy("close")()


def replacements(package: str) -> Iterator[tuple[Any, str, Any]]:
    """Every ``(module, name, ours)`` to set: our names, then the int shim."""
    for module_name in package_modules(package):
        module = import_quietly(module_name)
        for name in REPLACED:
            if hasattr(module, name):
                yield module, name, getattr(compat, name)
    helpers = importlib.import_module(f"{package}.tests.test_helpers")
    original_params = getattr(helpers.random_params, "__wrapped_original__",
                              helpers.random_params)
    yield helpers, "random_params", _marked(int_shim(original_params), original_params)


def web_replacements(package: str) -> Iterator[tuple[Any, str, Any]]:
    """The RPC2 shim on the Web Profile test helpers (import them only once patched)."""
    web = importlib.import_module(f"{package}.tests.web_profile_test_helpers")
    original = getattr(web.ServerProxyPool, "__wrapped_original__", web.ServerProxyPool)
    yield web, "ServerProxyPool", _marked(rpc2_shim(original), original)


def _marked(shim: Any, original: Any) -> Any:
    shim.__wrapped_original__ = original
    return shim


def _port_shim() -> tuple[Any, ...]:
    """PORT_SHIM: SAMPHubServer's default ``web_port`` made 0; returns the old defaults."""
    init = compat.SAMPHubServer.__init__
    defaults = init.__defaults__ or ()
    names = list(inspect.signature(init).parameters)[-len(defaults):]
    init.__defaults__ = tuple(0 if name == "web_port" else value
                              for name, value in zip(names, defaults, strict=True))
    return defaults


@contextlib.contextmanager
def replaced(packages: tuple[str, ...] = PACKAGES) -> Iterator[None]:
    """Put ours in place in every module of ``packages`` (and the shims) for the block.

    ``CI`` is hidden from the environment meanwhile: the upstream suites skip
    tests "flaky in CI" when it is set, decided as their modules are
    imported, and on our classes every one of them runs.
    """
    saved: list[tuple[Any, str, Any]] = []
    ci = os.environ.pop("CI", None)
    try:
        saved.append((compat.SAMPHubServer.__init__, "__defaults__", _port_shim()))
        for package in packages:
            for module, name, ours in replacements(package):
                saved.append((module, name, getattr(module, name)))
                setattr(module, name, ours)
            for module, name, ours in web_replacements(package):
                saved.append((module, name, getattr(module, name)))
                setattr(module, name, ours)
        yield
    finally:
        for module, name, original in reversed(saved):
            setattr(module, name, original)
        if ci is not None:
            os.environ["CI"] = ci
