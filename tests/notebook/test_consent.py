"""A web page asks to join a hub that has no terminal: the notebook shows the dialog."""

from __future__ import annotations

import asyncio

import pytest

from jupyter_samp import Hub
from jupyter_samp.errors import RegistrationRefusedError
from jupyter_samp.notebook.session import SampSession
from jupyter_samp.testing import samp_environment

from ..web.webrpc import WebRpc, wait_for


@pytest.mark.parametrize("allow", [True, False], ids=["allowed", "refused"])
async def test_web_registration_is_put_to_the_notebook(
    fresh_session: SampSession, tmp_path, allow: bool  # type: ignore[no-untyped-def]
) -> None:
    with samp_environment(tmp_path) as env:
        async with Hub(lockfile=env.lockfile, web_port=0, web_consent="samp") as hub:
            await fresh_session.connect(hub="connect")
            await fresh_session.client.flush()  # type: ignore[union-attr]
            assert hub.web_url is not None
            rpc = WebRpc(hub.web_url)
            try:
                registering = asyncio.ensure_future(rpc.register("archive page"))
                await wait_for(lambda: bool(fresh_session.consent_dialogs))
                dialog = fresh_session.consent_dialogs[-1]
                assert "archive page" in dialog.children[0].value
                (dialog.allow if allow else dialog.deny).click()
                if allow:
                    session = await registering
                    assert session.id in {c.public_id for c in hub.clients}
                else:
                    with pytest.raises(RegistrationRefusedError):
                        await registering
            finally:
                rpc.close()


async def test_unanswered_dialog_closes_when_the_hub_gives_up(
    fresh_session: SampSession, tmp_path  # type: ignore[no-untyped-def]
) -> None:
    """The hub's consent timeout travels with the question; the dialog then shows the refusal."""
    with samp_environment(tmp_path) as env:
        async with Hub(lockfile=env.lockfile, web_port=0, web_consent="samp",
                       web_consent_timeout=0.5) as hub:
            await fresh_session.connect(hub="connect")
            await fresh_session.client.flush()  # type: ignore[union-attr]
            assert hub.web_url is not None
            rpc = WebRpc(hub.web_url)
            try:
                registering = asyncio.ensure_future(rpc.register("silent page"))
                await wait_for(lambda: bool(fresh_session.consent_dialogs))
                dialog = fresh_session.consent_dialogs[-1]
                assert dialog in fresh_session.consent_box.children
                assert dialog.request["timeout"] == "0.5"
                with pytest.raises(RegistrationRefusedError):
                    await registering
                await wait_for(lambda: dialog not in fresh_session.consent_box.children)
                assert dialog.answer.result() is False
                assert dialog.allow.disabled and "no answer in time" in dialog.outcome.value
            finally:
                rpc.close()
