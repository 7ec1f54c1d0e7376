"""Consent: the request shown to the user, timeouts, the terminal prompt, CLI choices."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Iterator
from typing import TextIO

import pytest

from jupyter_samp import Hub
from jupyter_samp.cli import build_parser
from jupyter_samp.hub.web.consent import (
    WebRegistration,
    accept_all,
    ask,
    deny_all,
    printable,
    url_origin,
)
from jupyter_samp.hub.web.options import web_hub_options
from jupyter_samp.hub.web.prompt import TerminalPrompt, choose_consent
from jupyter_samp.testing import SampEnvironment
from tests.web.webrpc import wait_for, within

REQUEST = WebRegistration("page", "http://127.0.0.1:8000", "http://127.0.0.1:8000/a.html")


async def test_ask_returns_the_answer() -> None:
    assert await ask(accept_all, REQUEST, 1.0) is True
    assert await ask(deny_all, REQUEST, 1.0) is False


async def test_ask_times_out_as_a_refusal() -> None:
    never: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    started = asyncio.get_running_loop().time()

    async def silent(request: WebRegistration) -> bool:
        return await never

    assert await ask(silent, REQUEST, 0.1) is False
    assert asyncio.get_running_loop().time() - started < 5.0


async def test_ask_treats_errors_and_non_booleans_as_refusals() -> None:
    async def broken(request: WebRegistration) -> bool:
        raise RuntimeError("dialog crashed")

    async def vague(request: WebRegistration) -> bool:
        return "yes"  # type: ignore[return-value]

    assert await ask(broken, REQUEST, 1.0) is False
    assert await ask(vague, REQUEST, 1.0) is False


@pytest.mark.parametrize(
    ("origin", "referer", "mismatch"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/page.html", False),
        ("https://example.org", "https://EXAMPLE.org:443/x", False),
        ("http://example.org", "http://example.org:80/", False),
        ("http://good.example", "http://evil.example/page.html", True),
        ("http://a.example:8080", "http://a.example/", True),
        (None, "http://evil.example/", False),
        ("http://a.example", None, False),
    ],
)
def test_origin_referer_mismatch(origin: str | None, referer: str | None, mismatch: bool) -> None:
    assert WebRegistration.from_headers("x", origin, referer).mismatch is mismatch


def test_description_is_safe_to_print() -> None:
    request = WebRegistration.from_headers(
        "evil\n    Origin: http://trusted\x1b[2J", "http://evil.example", "http://other.example/"
    )
    lines = request.describe()
    assert not any(line.strip().startswith("Origin: http://trusted") for line in lines)
    (name,) = [line for line in lines if "Name:" in line]
    assert "\\x0a" in name and "\\x1b" in name
    assert any("mismatch" in line for line in lines)
    assert "(undeclared)" in "\n".join(WebRegistration("p").describe())
    assert printable("a" * 500).endswith("...")


def test_url_origin() -> None:
    assert url_origin("HTTP://Example.ORG:80/a?b") == "http://example.org"
    assert url_origin("http://[::1]:21012/") == "http://[::1]:21012"
    assert url_origin("not a url") is None


@pytest.fixture
def terminal() -> Iterator[tuple[TextIO, int]]:
    """A pipe standing in for the terminal: (readable end as a file, writable fd)."""
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "r") as stdin:
        try:
            yield stdin, write_fd
        finally:
            os.close(write_fd)


async def test_terminal_prompt_reads_the_answer_without_blocking(
    terminal: tuple[TextIO, int],
) -> None:
    stdin, typing = terminal
    shown = io.StringIO()
    prompt = TerminalPrompt(stdin, shown)
    try:
        first = asyncio.ensure_future(prompt(REQUEST))
        second = asyncio.ensure_future(prompt(REQUEST))  # waits its turn
        await wait_for(lambda: "Allow this connection?" in shown.getvalue())
        assert "Allow this connection?" in shown.getvalue()
        assert shown.getvalue().count("Allow this connection?") == 1  # one at a time
        os.write(typing, b"yes\n")
        assert await within(first) is True
        os.write(typing, b"n\n")
        assert await within(second) is False
        third = asyncio.ensure_future(prompt(REQUEST))
        os.write(typing, b"Y")
        os.write(typing, b"\n")
        assert await within(third) is True
    finally:
        prompt.close()


async def test_terminal_prompt_refuses_on_timeout_and_at_end_of_input() -> None:
    read_fd, write_fd = os.pipe()
    shown = io.StringIO()
    with os.fdopen(read_fd, "r") as stdin:
        prompt = TerminalPrompt(stdin, shown)
        try:
            assert await ask(prompt, REQUEST, 0.1) is False
            assert "no answer in time" in shown.getvalue()
            answer = asyncio.ensure_future(prompt(REQUEST))
            os.write(write_fd, b"garbage that is not yes\n")
            assert await within(answer) is False
            os.close(write_fd)  # end of input: every later request is refused
            assert await within(prompt(REQUEST)) is False
            assert await within(prompt(REQUEST)) is False
        finally:
            prompt.close()


def test_cli_web_options() -> None:
    parser = build_parser()
    args = parser.parse_args(["hub"])
    assert (args.web_profile, args.web_port, args.web_consent) == (True, 21012, None)
    args = parser.parse_args([
        "hub", "--no-web-profile", "--web-port", "0", "--web-consent", "deny",
        "--web-mtype", "calc.*", "--web-idle-timeout", "30",
        "--web-translator-max-size", "1000", "--web-translator-time-limit", "5",
    ])
    options = web_hub_options(args)
    assert options["web_profile"] is False and options["web_port"] == 0
    assert options["web_consent"] is deny_all
    assert "calc.*" in options["web_mtypes"] and "table.*" in options["web_mtypes"]
    assert options["web_idle_timeout"] == 30.0
    assert options["web_translator_max_size"] == 1000
    assert options["web_translator_time_limit"] == 5.0


async def test_translator_limits_reach_the_web_profile(samp_env: SampEnvironment) -> None:
    """Hub(web_translator_...) sets the limits the URL translator enforces."""
    hub = Hub(lockfile=samp_env.lockfile, web_port=0, web_consent=deny_all,
              web_translator_max_size=1000, web_translator_time_limit=5.0)
    async with hub:
        assert hub._web is not None
        translator = hub._web.translator
        assert (translator.max_size, translator.time_limit) == (1000, 5.0)


def test_default_consent_depends_on_the_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert choose_consent(None, io.StringIO()) is deny_all
    assert isinstance(choose_consent(None, Tty()), TerminalPrompt)
    assert choose_consent("accept") is accept_all
    with pytest.raises(ValueError, match="accept, deny or prompt"):
        choose_consent("maybe")
