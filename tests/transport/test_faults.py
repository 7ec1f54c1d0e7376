"""The one mapping from exceptions to XML-RPC faults."""

from __future__ import annotations

import logging

import pytest

from jupyter_samp.errors import InvalidValueError, NotRegisteredError, ProtocolError
from jupyter_samp.transport.faults import BAD_REQUEST, INTERNAL, fault_for, too_large, undecodable


def test_a_hub_fault_keeps_its_code_and_text() -> None:
    assert fault_for(NotRegisteredError("Unknown private key"), "samp.hub.ping") == (
        3202, "Unknown private key")


def test_a_bad_value_is_a_bad_request() -> None:
    fault = fault_for(InvalidValueError("bad mtype"), "samp.hub.notify")
    assert fault == (BAD_REQUEST, "bad mtype")


def test_a_bug_is_logged_and_still_answered(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="jupyter_samp.xmlrpc"):
        code, text = fault_for(KeyError("x"), "samp.hub.notify")
    assert code == INTERNAL and text == "Internal error in samp.hub.notify: KeyError: 'x'"
    assert caplog.records and caplog.records[0].exc_info is not None


def test_undecodable_bodies_and_large_ones_say_why(caplog: pytest.LogCaptureFixture) -> None:
    refused = undecodable(ProtocolError("not XML"))
    assert refused == (BAD_REQUEST, "Malformed XML-RPC request: not XML")
    with caplog.at_level(logging.ERROR, logger="jupyter_samp.xmlrpc"):
        assert undecodable(LookupError("enc"))[1] == "Malformed XML-RPC request: LookupError: enc"
    assert len(caplog.records) == 1  # the decoder's bug is logged; a refusal is not
    assert too_large(16) == (BAD_REQUEST, "Request body too large: the limit is 16 bytes")
