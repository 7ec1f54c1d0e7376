"""Data sent to real TOPCAT and DS9, checked by asking them what they loaded.

``samp.ok`` proves little (DS9 acknowledges an image it could not fetch), so
each load is verified: TOPCAT hands back the table it holds
(``table.get.stil``), DS9 reports the image size (``ds9.get "fits size"``).
Screenshots of both are written to ``artifacts/`` at the repository root.
"""

from __future__ import annotations

import asyncio
import subprocess

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from jupyter_samp.data import TableEvent
from jupyter_samp.data.codecs.decode import read_votable, to_pandas
from jupyter_samp.data.fetch import fetch
from jupyter_samp.notebook.model import SampState
from jupyter_samp.notebook.widgets import AppsPanel
from jupyter_samp.testing import java_command, run_peer
from jupyter_samp.testing.waiting import wait_until
from tests.apps.conftest import ARTIFACTS, DS9_NAME, Desktop

pytestmark = [pytest.mark.peers, pytest.mark.asyncio(loop_scope="module")]


def mixed_frame() -> pd.DataFrame:
    """Every kind of column an astronomer's DataFrame tends to have."""
    df = pd.DataFrame(
        {
            "count": np.array([3, -7, 42, 0, 12], dtype=np.int32),
            "flux": [1.5, np.nan, -2.25, 1e-30, 6.02e23],
            "nobs": pd.array([1, None, 3, 4, None], dtype="Int64"),
            "good": [True, False, True, True, False],
            "label": ["alpha", "beta", None, "delta", "eps"],
            "when": pd.to_datetime(
                ["2024-01-02T03:04:05", None, "2000-01-01T00:00:00", "1999-12-31T23:59:59",
                 "2024-06-01T12:00:00"]
            ),
        },
        index=pd.Index([1001, 1003, 1005, 1007, 1009], name="source_id"),
    )
    df.attrs["units"] = {"flux": "mJy", "count": "ct"}
    return df


async def until_topcat_has(desktop: Desktop, table_id: str, timeout: float = 30.0) -> None:
    """Wait until TOPCAT knows ``table_id``.

    TOPCAT answers ``samp.ok`` as soon as it accepts a load and adds the table
    to its list a moment later, announcing nothing; asking it about the table
    (an empty selection, which changes nothing) is the only way to know.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    params = {"table-id": table_id, "row-list": []}
    while True:
        answer = await desktop.client.call(desktop.topcat, "table.select.rowList", params,
                                           timeout=30, check=False)
        if answer.status != "samp.error":
            return
        if loop.time() > deadline:
            pytest.fail(f"TOPCAT did not list {table_id} within {timeout:g} s: {answer.errortxt}")
        await asyncio.sleep(0.2)  # polling: TOPCAT sends no event when a load completes


async def topcat_table(desktop: Desktop, table_id: str) -> pd.DataFrame:
    """The table TOPCAT holds as ``table_id`` (its current table: the last one loaded)."""
    await until_topcat_has(desktop, table_id)
    response = await desktop.client.call(
        desktop.topcat, "table.get.stil", {"format": "votable-binary2-inline"}, timeout=60)
    body = await fetch(response.result["url"])
    return await asyncio.to_thread(lambda: to_pandas(read_votable(body)))


def assert_holds_mixed_frame(held: pd.DataFrame, df: pd.DataFrame) -> None:
    """What TOPCAT gives back of :func:`mixed_frame` is what was sent: values, nulls, units."""
    assert list(held.columns) == ["source_id", *df.columns]
    assert held["source_id"].tolist() == df.index.tolist()
    assert held["count"].tolist() == df["count"].tolist()
    np.testing.assert_array_equal(held["flux"].to_numpy(), df["flux"].to_numpy())
    assert held["nobs"].isna().tolist() == df["nobs"].isna().tolist()
    assert held["nobs"].dropna().tolist() == [1, 3, 4]
    assert held["good"].tolist() == df["good"].tolist()
    assert held["label"].isna().tolist() == df["label"].isna().tolist()
    assert held["label"].dropna().tolist() == ["alpha", "beta", "delta", "eps"]
    when = pd.to_datetime(held["when"])
    assert when.isna().tolist() == df["when"].isna().tolist()
    assert (when.dropna().to_numpy() == df["when"].dropna().to_numpy()).all()
    units = {name: u.Unit(text) for name, text in held.attrs["units"].items()}
    assert units == {"flux": u.mJy, "count": u.ct}


async def test_topcat_holds_the_dataframe_we_sent(desktop: Desktop) -> None:
    df = mixed_frame()
    receipt = await desktop.bridge.send_table(df, to="topcat", name="mixed dtypes")
    assert receipt.ok == [desktop.topcat], receipt.summary()
    held = await topcat_table(desktop, receipt.table.table_id)
    assert_holds_mixed_frame(held, df)


async def test_ds9_shows_the_image_we_sent(desktop: Desktop) -> None:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [60.0, 40.0]
    wcs.wcs.cdelt = [-0.0005, 0.0005]
    y, x = np.mgrid[0:80, 0:120]
    image = (np.exp(-((x - 60) ** 2 + (y - 40) ** 2) / 200.0) * 1000).astype("f4")
    image += np.random.default_rng(1).normal(0, 5, image.shape).astype("f4")
    receipt = await desktop.bridge.send_image(image, to="ds9", wcs=wcs, name="gaussian")
    assert receipt.ok == [desktop.ds9], receipt.summary()
    size = await desktop.client.call(desktop.ds9, "ds9.get", {"cmd": "fits size"}, timeout=30)
    assert size.result["value"].split() == ["120", "80"]
    pan = await desktop.client.call(desktop.ds9, "ds9.get", {"cmd": "pan wcs fk5 degrees"},
                                    timeout=30)
    ra, dec = (float(v) for v in pan.result["value"].split()[:2])
    assert abs(ra - 150.0) < 0.05 and abs(dec - 2.0) < 0.05


async def test_selection_from_a_real_second_client(desktop: Desktop) -> None:
    df = mixed_frame()
    receipt = await desktop.bridge.send_table(df, to="topcat", name="to select")
    handle = receipt.table
    await until_topcat_has(desktop, handle.table_id)
    arrived: asyncio.Future[TableEvent] = asyncio.get_running_loop().create_future()
    def on_select(event: TableEvent) -> None:
        if not arrived.done():
            arrived.set_result(event)

    handle.on_select(on_select)
    args = java_command(
        ["messagesender", "-mtype", "table.select.rowList",
         "-param", "table-id", handle.table_id, "-param", "row-list", '["1", "3"]',
         "-mode", "sync", "-targetname", "pytest-desktop", "-sendername", "selector"],
        home=desktop.env.home)
    result = await run_peer(args, timeout=60, env=desktop.env.subprocess_env())
    event = await asyncio.wait_for(arrived, 30)
    assert result.returncode == 0, result.describe()
    assert event.sender_name == "selector"
    pd.testing.assert_frame_equal(handle.selection, df.iloc[[1, 3]])
    assert handle.selection.index.tolist() == [1003, 1007]
    # And our own selection reaches TOPCAT, which accepts it for the table it loaded.
    pushed = await handle.select(df[df["good"]])
    assert pushed.ok == [desktop.topcat], pushed.summary()


async def test_screenshots(desktop: Desktop) -> None:
    """Pictures of what TOPCAT and DS9 show (artefacts, not assertions about content)."""
    await desktop.client.call(desktop.ds9, "ds9.set", {"cmd": "zoom to fit"}, timeout=30)
    ARTIFACTS.mkdir(exist_ok=True)
    tree = subprocess.run(["xwininfo", "-root", "-tree"], env=desktop.x_env(),
                          capture_output=True, text=True, timeout=30, check=True).stdout
    written = []
    for title, filename in (("TOPCAT", "topcat.png"), ("SAOImage", "ds9.png")):
        window = _top_window(tree, title)
        if window is None:
            continue
        path = ARTIFACTS / filename
        subprocess.run(["xdotool", "windowraise", window], env=desktop.x_env(), timeout=30,
                       check=False)
        subprocess.run(["import", "-window", window, str(path)], env=desktop.x_env(),
                       timeout=60, check=True, capture_output=True)
        written.append(path)
    print("screenshots:", *written)
    assert written, tree


async def test_liveness_rounds_leave_ds9_without_error_dialogs(desktop: Desktop) -> None:
    """The hub's check for dead clients must never be seen by a live one.

    DS9 shows a modal "internal error" dialog for every connection that
    closes before a request, and a dialog raised during a SAMP call holds
    that call until someone dismisses it.
    """
    probe = desktop.hub._probe  # the fixture's hub runs a round every 0.5 s as well
    for _ in range(3):
        assert await probe.probe_once() == []
    # A round trip after the rounds: DS9 has handled whatever reached it by then.
    size = await desktop.client.call(desktop.ds9, "ds9.get", {"cmd": "fits size"}, timeout=30)
    assert size.ok
    assert "Premature eof" not in desktop.processes["ds9"].stderr
    tree = subprocess.run(["xwininfo", "-root", "-tree"], env=desktop.x_env(),
                          capture_output=True, text=True, timeout=30, check=True).stdout
    assert "__tk__messagebox" not in tree


def _top_window(tree: str, title: str) -> str | None:
    """The id of the first top-level window whose name starts with ``title``."""
    for line in tree.splitlines():
        text = line.strip()
        if text.startswith("0x") and f'"{title}' in text and "+0+0" in text:
            return text.split()[0]
    return None


async def test_non_ascii_names_reach_topcat_faithfully(desktop: Desktop) -> None:
    """SAMP strings are ASCII; the table itself carries the astronomer's names."""
    df = pd.DataFrame({"Hα flux": [1.5, 2.5, -0.25], "θ¹ Ori": [1, 2, 3]})  # noqa: RUF001
    # As a VOTable (over HTTP) and as FITS-plus, whose VOTable metadata keeps the names
    # that its plain FITS headers cannot hold.
    for format, transport in (("votable", "http"), ("fits", "auto")):
        receipt = await desktop.bridge.send_table(df, to="topcat", name="θ¹ Ori C ✓",
                                                  format=format, transport=transport)
        assert receipt.ok == [desktop.topcat], receipt.summary()
        assert receipt.transports[desktop.topcat].split(", ")[1] == format
        held = await topcat_table(desktop, receipt.table.table_id)
        assert list(held.columns) == ["Hα flux", "θ¹ Ori"]  # noqa: RUF001
        assert held["Hα flux"].tolist() == [1.5, 2.5, -0.25]  # noqa: RUF001
        assert held["θ¹ Ori"].tolist() == [1, 2, 3]


async def test_the_magic_sends_an_image_to_ds9_by_the_name_users_type(
    desktop: Desktop, monkeypatch: pytest.MonkeyPatch
) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from jupyter_samp.notebook import session as session_module

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jupyter_samp")
    session_module._session = None
    session = session_module.connection()
    try:
        monkeypatch.setenv("SAMP_HUB", desktop.env.env_value)  # the desktop's hub, as in a kernel
        await session.connect(hub="connect")
        client = session.client
        assert client is not None
        await wait_until(lambda: any(view.accepts("image.load.fits")
                                     for view in client.clients.values()), client)
        outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on_log(change: dict[str, list[dict[str, str]]]) -> None:
            for entry in change["new"]:
                if entry["text"].startswith("image hdu:") and not outcome.done():
                    outcome.set_result(entry["text"])

        session.state.observe(on_log, names="log")
        shell.user_ns["hdu"] = fits.PrimaryHDU(np.arange(70 * 50, dtype="f4").reshape(50, 70))
        with capture_output() as captured:
            shell.run_line_magic("samp", "image hdu --to ds9")
            assert await asyncio.wait_for(outcome, 60) == "image hdu: done by SAOImageDS9"
        assert "SAOImageDS9" in captured.outputs[-1].data["text/html"]
        size = await desktop.client.call(desktop.ds9, "ds9.get", {"cmd": "fits size"}, timeout=30)
        assert size.result["value"].split() == ["70", "50"]
    finally:
        if session.client is not None:
            await session.client.close(stop_hub=False)
        session_module._session = None


async def test_apps_panel_shows_the_icons_the_applications_declare(desktop: Desktop) -> None:
    """TOPCAT serves its icon itself (http, port 2525): the kernel fetches it for the panel."""
    state = SampState()
    state.bind(desktop.client)
    view = AppsPanel(state)
    urls = {app: desktop.client.clients[app].icon_url or "" for app in (desktop.topcat,
                                                                      desktop.ds9)}
    assert urls[desktop.topcat].startswith("http://"), urls

    def settled() -> bool:
        return all(state.icons.get(url, {}).get("status") in ("ok", "failed")
                   for url in urls.values() if url)

    changed = asyncio.Event()
    state.observe(lambda change: changed.set(), names="icons")
    while not settled():  # each fetch ends within ICON_TIMEOUT (5 s)
        await asyncio.wait_for(changed.wait(), 30)
        changed.clear()
    assert state.icons[urls[desktop.topcat]]["status"] == "ok", state.icons
    rows = {row.children[1].value.split("</b>")[0]: row for row in view.children}
    assert "jupyter-samp-icon" in rows["<b>topcat"].children[0]._dom_classes
    # DS9 declares an icon on the internet (or none): offline it gets a placeholder.
    ds9_icon = state.icons.get(urls[desktop.ds9], {})
    expected = "jupyter-samp-icon" if ds9_icon.get("status") == "ok" else (
        "jupyter-samp-icon-placeholder")
    print("DS9 icon:", urls[desktop.ds9] or "(none)", ds9_icon.get("status"),
          ds9_icon.get("reason", ""))
    assert expected in rows[f"<b>{DS9_NAME}"].children[0]._dom_classes
