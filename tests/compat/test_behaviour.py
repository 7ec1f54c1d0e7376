"""What the compat classes do beyond pyvo's tests: threads, errors, refusals."""

from __future__ import annotations

import threading
import xmlrpc.client
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_samp.compat import (
    SAMP_STATUS_ERROR,
    SAMP_STATUS_OK,
    SAMPClient,
    SAMPClientError,
    SAMPHubError,
    SAMPHubProxy,
    SAMPHubServer,
    SAMPIntegratedClient,
    SAMPProxyError,
    SAMPProxyTimeoutError,
    WebProfileDialog,
)
from jupyter_samp.testing import SampEnvironment

WAIT = 10.0


@pytest.fixture
def hub(samp_env: SampEnvironment) -> Iterator[SAMPHubServer]:
    running = SAMPHubServer(web_profile=False)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def pair(hub: SAMPHubServer) -> Iterator[tuple[SAMPIntegratedClient, SAMPIntegratedClient]]:
    sender, receiver = SAMPIntegratedClient(name="sender"), SAMPIntegratedClient(name="receiver")
    sender.connect()
    receiver.connect()
    yield sender, receiver
    sender.disconnect()
    receiver.disconnect()


def test_a_blocking_handler_does_not_hold_up_the_next(pair: Any) -> None:
    sender, receiver = pair
    second_ran, first_done = threading.Event(), threading.Event()

    def handler(private_key: str, sender_id: str, mtype: str, params: dict, extra: dict
                ) -> None:
        if params["n"] == "1":
            assert second_ran.wait(WAIT), "the second notification waited for the first"
            first_done.set()
        else:
            second_ran.set()

    receiver.bind_receive_notification("x-test.block", handler)
    sender.enotify(receiver.get_public_id(), "x-test.block", n=1)
    sender.enotify(receiver.get_public_id(), "x-test.block", n=2)
    assert first_done.wait(WAIT)


def test_handlers_run_off_the_callers_thread(pair: Any) -> None:
    sender, receiver = pair
    seen: list[threading.Thread] = []

    def handler(private_key: str, sender_id: str, msg_id: str, mtype: str, params: dict,
                extra: dict) -> None:
        seen.append(threading.current_thread())
        receiver.ereply(msg_id, SAMP_STATUS_OK, result={"echo": params["x"]})

    receiver.bind_receive_call("x-test.*", handler)  # a wildcard; timeout "0": no limit
    response = sender.ecall_and_wait(receiver.get_public_id(), "x-test.echo", "0", x=5)
    assert response["samp.result"] == {"echo": "5"}   # numbers travel as SAMP strings
    assert seen and seen[0] is not threading.main_thread()


def test_a_failing_call_handler_answers_an_error(pair: Any) -> None:
    sender, receiver = pair

    def broken(*args: Any) -> None:
        raise RuntimeError("no such thing")

    receiver.bind_receive_call("x-test.broken", broken)
    response = sender.ecall_and_wait(receiver.get_public_id(), "x-test.broken", "10")
    assert response["samp.status"] == SAMP_STATUS_ERROR
    assert "RuntimeError: no such thing" in response["samp.error"]["samp.errortxt"]


def test_call_and_wait_times_out(pair: Any) -> None:
    sender, receiver = pair
    receiver.bind_receive_call("x-test.silent", lambda *args: None)
    with pytest.raises(SAMPProxyTimeoutError) as refused:
        sender.ecall_and_wait(receiver.get_public_id(), "x-test.silent", "1")
    assert isinstance(refused.value, xmlrpc.client.Fault)


def test_refusals_are_proxy_errors(pair: Any) -> None:
    sender, receiver = pair
    with pytest.raises(SAMPProxyError) as refused:
        sender.enotify(receiver.get_public_id(), "x-test.unsubscribed")
    assert "not subscribed" in refused.value.faultString
    with pytest.raises(SAMPProxyError):
        sender.enotify(receiver.get_public_id(), "x-test.any", text="caf\u00e9")


def test_ping_and_env_are_answered(pair: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sender, receiver = pair
    monkeypatch.setenv("COMPAT_TEST_VALUE", "42")
    target = receiver.get_public_id()
    assert sender.ecall_and_wait(target, "samp.app.ping", "10")["samp.status"] == SAMP_STATUS_OK
    answer = sender.ecall_and_wait(target, "client.env.get", "10", name="COMPAT_TEST_VALUE")
    assert answer["samp.result"] == {"value": "42"}


def test_hub_refuses_a_second_start_and_a_live_lockfile(hub: SAMPHubServer) -> None:
    with pytest.raises(SAMPHubError, match="already running"):
        hub.start()
    other = SAMPHubServer(web_profile=False)
    with pytest.raises(SAMPHubError):
        other.start()
    assert not other.is_running
    other.stop()  # harmless when not running


def test_hub_restarts_with_a_new_secret(samp_env: SampEnvironment) -> None:
    hub = SAMPHubServer(web_profile=False, secret="first")
    hub.start()
    assert hub.params["samp.secret"] == "first"
    hub.stop()
    assert not samp_env.lockfile.exists()
    hub.start()
    assert hub.is_running
    hub.stop()


def test_no_hub_is_a_hub_error(samp_env: SampEnvironment) -> None:
    with pytest.raises(SAMPHubError):
        SAMPHubProxy().connect()
    with pytest.raises(SAMPHubError):
        SAMPIntegratedClient().connect()
    with pytest.raises(ValueError):
        SAMPHubProxy().connect(hub=object(), hub_params={})  # type: ignore[arg-type]


def test_client_misuse_is_a_client_error(hub: SAMPHubServer) -> None:
    proxy = SAMPHubProxy()
    with pytest.raises(SAMPClientError):
        SAMPClient(proxy).register()   # proxy not connected
    silent = SAMPClient(proxy, callable=False)
    with pytest.raises(SAMPClientError):
        silent.bind_receive_call("x.y", lambda *args: None)
    proxy.connect(hub=hub)
    client = SAMPClient(proxy, name="twice")
    client.start()
    client.register()
    with pytest.raises(SAMPClientError, match="already registered"):
        client.register()
    client.unregister()
    client.stop()
    proxy.disconnect()


def test_dialog_without_requests_does_nothing() -> None:
    class Dialog(WebProfileDialog):
        def show_dialog(self, *args: Any) -> None:
            raise AssertionError("nothing to show")

    Dialog().handle_queue()
