"""The pyvo.samp tests really run on our classes, and the two shims are all that differs."""

from __future__ import annotations

import importlib

import pyvo.samp.tests.test_helpers as helpers

import jupyter_samp.compat as compat
from tests.compat.pyvo_suite import PACKAGES, REPLACED, import_quietly, package_modules, replaced


def test_every_module_holds_ours_during_a_test() -> None:
    checked = 0
    for package in PACKAGES:
        for module_name in package_modules(package):
            module = import_quietly(module_name)
            for name in REPLACED:
                if hasattr(module, name):
                    assert getattr(module, name) is getattr(compat, name), (module_name, name)
                    checked += 1
    assert checked > 40


def test_the_imported_test_modules_bound_ours() -> None:
    from tests.compat import test_pyvo_standard_profile, test_pyvo_web_profile

    assert test_pyvo_standard_profile.SAMPHubServer is compat.SAMPHubServer
    assert test_pyvo_standard_profile.SAMPIntegratedClient is compat.SAMPIntegratedClient
    web_helpers = importlib.import_module("pyvo.samp.tests.web_profile_test_helpers")
    assert issubclass(web_helpers.SAMPWebClient, compat.SAMPClient)
    assert issubclass(web_helpers.SAMPWebHubProxy, compat.SAMPHubProxy)
    assert issubclass(web_helpers.AlwaysApproveWebProfileDialog, compat.WebProfileDialog)
    assert test_pyvo_web_profile.SAMPHubServer is compat.SAMPHubServer


def test_int_shim_changes_only_the_int(tmp_path: object) -> None:
    params = helpers.random_params(str(tmp_path))
    assert params["parameter2"] == "1331"
    assert params["parameter1"] == "abcde"


def test_originals_come_back_after_the_block() -> None:
    with replaced():
        pass  # nested inside the autouse fixture's own replacement
    assert importlib.import_module("pyvo.samp.hub").SAMPHubServer is compat.SAMPHubServer


def test_port_shim_only_while_replaced() -> None:
    import inspect

    hub = compat.SAMPHubServer()
    assert hub._requested_web_port == 0   # inside the autouse replacement
    default = inspect.signature(compat.SAMPHubServer).parameters["web_port"].default
    assert default == 0
