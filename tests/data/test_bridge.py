"""The data bridge between two of our own clients: send, receive, select, receipts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from jupyter_samp import Client, Message, connect
from jupyter_samp.data import DataBridge, Received, TableEvent
from jupyter_samp.data.codecs.fits import fits_bytes
from jupyter_samp.data.codecs.votable import votable_bytes
from jupyter_samp.data.resources import ResourceServer
from jupyter_samp.errors import (
    ErrorResponse,
    InvalidValueError,
    NoSuchClientError,
    NotSubscribedError,
)
from jupyter_samp.testing.waiting import wait_until as wait_for
from tests.data.conftest import Pair, subscribed


def me(client: Client) -> str:
    """A connected client's id."""
    assert client.self_id is not None
    return client.self_id


def stars() -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "ra": [10.5, 20.25, 30.0, 40.125],
            "mag": [12.0, np.nan, 14.5, 9.0],
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
            "name": ["a", "b", None, "d"],
        },
        index=pd.Index([101, 205, 333, 404], name="star_id"),
    )
    df.attrs["units"] = {"ra": "deg", "mag": "mag"}
    return df


async def test_dataframe_arrives_as_the_same_dataframe(pair: Pair) -> None:
    got: list[Received] = []
    pair.inbox.on_table(got.append, as_pandas=True)
    await subscribed(pair, "table.load.votable")
    df = stars()
    receipt = await pair.out.send_table(df, name="my stars")
    assert receipt.ok == [me(pair.receiver)] and receipt.succeeded
    assert receipt.recipients == {me(pair.receiver): "receiver"}
    item = got[0]
    assert item.id == receipt.table.table_id and item.name == "my stars"
    assert item.sender_id == me(pair.sender) and item.sender_name == "sender"
    back = item.data.set_index("star_id")
    pd.testing.assert_frame_equal(back, df, check_dtype=False, check_index_type=False)
    assert back.attrs["units"] == {"ra": "deg", "mag": "mag"}
    assert "samp.ok" in receipt.summary()


async def test_astropy_table_as_fits(pair: Pair) -> None:
    got: list[Received] = []
    pair.inbox.on_table(got.append)
    await subscribed(pair, "table.load.fits")
    table = Table({"x": [1.0, 2.0], "flag": [True, False]})
    table["x"].unit = u.km
    receipt = await pair.out.send_table(table, format="fits", to="receiver")
    assert receipt.mtype == "table.load.fits" and receipt.succeeded
    assert got[0].mtype == "table.load.fits"
    assert list(got[0].data["x"]) == [1.0, 2.0] and got[0].data["x"].unit == u.km


async def test_unsendable_data_fails_before_anything_is_sent(pair: Pair) -> None:
    got: list[Any] = []
    pair.inbox.on_table(got.append)
    pair.inbox.on_image(got.append)
    await subscribed(pair, "table.load.votable", "image.load.fits")
    bad = pd.DataFrame({"obj": [{"a": 1}, [1, 2]]})
    with pytest.raises(InvalidValueError, match="obj"):
        await pair.out.send_table(bad)
    with pytest.raises(InvalidValueError, match="2-D"):
        await pair.out.send_image(np.zeros((3, 4, 5)))
    with pytest.raises(InvalidValueError, match="table"):
        table_hdu = fits.BinTableHDU(Table({"a": [1]}))
        await pair.out.send_image(fits.HDUList([fits.PrimaryHDU(), table_hdu]))
    with pytest.raises(NoSuchClientError):
        await pair.out.send_table(stars(), to="no such app")
    assert got == [] and pair.out.resources == []


async def test_nobody_subscribed_is_an_error_before_publishing(pair: Pair) -> None:
    with pytest.raises(NotSubscribedError, match=r"spectrum\.load\.ssa-generic"):
        await pair.out.send_spectrum(stars())
    assert pair.out.resources == []


async def test_image_with_wcs(pair: Pair) -> None:
    got: list[Received] = []
    pair.inbox.on_image(got.append)
    await subscribed(pair, "image.load.fits")
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    image = np.arange(60, dtype="f4").reshape(6, 10)
    receipt = await pair.out.send_image(image, wcs=wcs, name="field", image_id="img-1")
    assert receipt.succeeded and receipt.url is not None and receipt.url.endswith("field.fits")
    hdul = got[0].data
    np.testing.assert_array_equal(hdul[0].data, image)
    assert hdul[0].header["CRVAL1"] == 150.0 and got[0].id == "img-1"


async def test_file_url_and_path_are_read_from_disk(pair: Pair, tmp_path: Path) -> None:
    got: list[Received] = []
    pair.inbox.on_table(got.append)
    pair.inbox.on_image(got.append)
    await subscribed(pair, "table.load.votable", "image.load.fits")
    vot = tmp_path / "t.vot"
    vot.write_bytes(votable_bytes(stars()))
    image = tmp_path / "i.fits"
    image.write_bytes(fits_bytes(np.ones((4, 4))))
    await pair.out.send_table(vot.as_uri())  # a file: URL goes as it is
    assert got[-1].url == vot.as_uri() and len(got[-1].data) == 4
    await pair.out.send_table(vot, transport="http")  # a path is served over HTTP
    assert got[-1].url.startswith("http://127.0.0.1:") and len(got[-1].data) == 4
    await pair.out.send_table(vot)  # or, to an application here, sent as its own file: URL
    assert got[-1].url == vot.resolve().as_uri() and len(got[-1].data) == 4
    await pair.out.send_image(str(image))
    assert got[-1].data[0].data.shape == (4, 4)


async def test_unreachable_and_missing_urls_give_samp_error(pair: Pair, tmp_path: Path) -> None:
    pair.inbox.on_table(lambda item: None)
    await subscribed(pair, "table.load.votable")
    async with ResourceServer() as server:
        gone = server.publish(b"x", filename="gone.vot")
        gone.withdraw()
        with pytest.raises(ErrorResponse, match="HTTP 410"):
            await pair.sender.call("receiver", "table.load.votable", {"url": gone.url}, timeout=20)
        dead_port = server.port
    urls = [
        f"file://{tmp_path}/missing.vot",
        "ftp://example.invalid/x.vot",
        f"http://127.0.0.1:{dead_port}/nothing/here.vot",
    ]
    for url, reason in zip(urls, ["no such file", "only http", "Connection refused"],
                           strict=True):
        receipt = await pair.out.send_table(url)
        assert reason in receipt.failed[me(pair.receiver)]


async def test_oversize_download_is_refused(pair: Pair) -> None:
    pair.inbox.max_bytes = 1000
    pair.inbox.on_table(lambda item: None)
    await subscribed(pair, "table.load.votable")
    receipt = await pair.out.send_table(pd.DataFrame({"x": np.arange(10_000.0)}))
    assert "1000" in receipt.failed[me(pair.receiver)]


async def test_selection_by_id_and_by_url_keeps_the_original_index(pair: Pair) -> None:
    pair.inbox.on_table(lambda item: None)
    await subscribed(pair, "table.load.votable")
    df = stars()
    handle = (await pair.out.send_table(df)).table
    events: list[TableEvent] = []
    handle.on_select(events.append)
    handle.on_highlight(events.append)
    await pair.out.client.flush()
    await pair.receiver.call("sender", "table.select.rowList",
                             {"table-id": handle.table_id, "row-list": ["3", "1"]}, timeout=10)
    pd.testing.assert_frame_equal(handle.selection, df.iloc[[1, 3]])
    assert list(handle.selection.index) == [205, 404]
    assert handle.selection_mask.tolist() == [False, True, False, True]
    await pair.receiver.call("sender", "table.select.rowList",
                             {"url": handle.url, "row-list": ["0"]}, timeout=10)
    assert list(handle.selection.index) == [101]
    await pair.receiver.call("sender", "table.highlight.row",
                             {"url": handle.url, "row": "2"}, timeout=10)
    assert handle.highlighted == 2 and handle.highlighted_row.name == 333
    assert [e.kind for e in events] == ["select", "select", "highlight"]
    assert events[0].sender_name == "receiver" and events[0].table is handle


async def test_bad_selections_are_answered(pair: Pair) -> None:
    pair.inbox.on_table(lambda item: None)
    await subscribed(pair, "table.load.votable")
    handle = (await pair.out.send_table(stars())).table
    await pair.out.client.flush()
    # A table another application sent: ignored, without an error for TOPCAT to show.
    ignored = await pair.receiver.call("sender", "table.select.rowList",
                                       {"table-id": "no-such", "row-list": []}, timeout=10)
    assert ignored.ok and "no-such" in ignored.result["jupyter_samp.ignored"]
    with pytest.raises(ErrorResponse, match="names no table"):
        await pair.receiver.call("sender", "table.select.rowList", {"row-list": []}, timeout=10)
    with pytest.raises(ErrorResponse, match="SAMP int"):
        await pair.receiver.call("sender", "table.select.rowList",
                                 {"table-id": handle.table_id, "row-list": ["x"]}, timeout=10)
    response = await pair.receiver.call("sender", "table.select.rowList",
                                        {"table-id": handle.table_id, "row-list": ["1", "99"]},
                                        timeout=10)
    assert response.status == "samp.warning" and "99" in (response.errortxt or "")
    assert handle.selected_rows.tolist() == [1]


async def test_select_pushes_to_the_applications_that_loaded_it(pair: Pair) -> None:
    pair.inbox.on_table(lambda item: None)
    await subscribed(pair, "table.load.votable")
    df = stars()
    handle = (await pair.out.send_table(df)).table
    received = pair.inbox.find_table(handle.table_id)
    assert received is not None
    receipt = await handle.select(df[df["ra"] > 15])
    assert receipt.ok == [me(pair.receiver)]
    assert received.selected_rows.tolist() == [1, 2, 3]
    assert handle.selected_rows.tolist() == [1, 2, 3]
    await pair.out.send_rows(handle.table_id, np.array([True, False, False, True]))
    assert received.selected_rows.tolist() == [0, 3]
    await handle.highlight(1)
    assert received.highlighted == 1
    with pytest.raises(InvalidValueError):
        await handle.select([0, 7])
    with pytest.raises(InvalidValueError):
        await handle.select(np.array([True, False]))


async def test_receipts_record_partial_failures(pair: Pair, hub: Any) -> None:
    pair.inbox.on_table(lambda item: None)
    async with connect("grumpy", hub=hub.lockfile) as grumpy, connect(
        "silent", hub=hub.lockfile
    ) as silent, connect("deaf", hub=hub.lockfile) as deaf:
        def refuse(message: Message) -> None:
            raise RuntimeError("no room for more tables")

        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def hang(message: Message) -> None:
            await never

        grumpy.add_handler("table.load.votable", refuse)
        silent.add_handler("table.load.votable", hang)
        await grumpy.flush()
        await silent.flush()
        await subscribed(pair, "table.load.votable")
        receipt = await pair.out.send_table(
            stars(), to=["receiver", "grumpy", "silent", me(deaf)], timeout=1.5
        )
        mine = me(pair.receiver)
        assert receipt.ok == [mine]
        failed = receipt.failed
        assert "no room" in failed[me(grumpy)]
        assert "no response within 1.5 s" in failed[me(silent)]
        assert receipt.timed_out == [me(silent)]
        assert "subscribed" in failed[me(deaf)].lower()
        assert not receipt.succeeded
        assert "grumpy" in receipt.summary()
        with pytest.raises(Exception, match="no room"):
            receipt.raise_for_failure()
        broadcast = await pair.out.send_table(stars(), timeout=1.5)
        assert set(broadcast.recipients) == {mine, me(grumpy), me(silent)}
        assert broadcast.timed_out == [me(silent)]
        never.cancel()


async def test_table_ids_are_unique(pair: Pair) -> None:
    pair.inbox.on_table(lambda item: None)
    await subscribed(pair, "table.load.votable")
    first = await pair.out.send_table(stars(), name="same")
    second = await pair.out.send_table(stars(), name="same")
    assert first.table.table_id != second.table.table_id
    await pair.out.send_table(stars(), table_id="mine")
    with pytest.raises(InvalidValueError, match="mine"):
        await pair.out.send_table(stars(), table_id="mine")


async def test_point_at_spectrum_and_bibcode(pair: Pair) -> None:
    seen: dict[str, dict[str, Any]] = {}
    for mtype in ("coord.pointAt.sky", "spectrum.load.ssa-generic", "bibcode.load"):
        pair.receiver.add_handler(mtype, lambda m: seen.update({m.mtype: m.params}))
    await subscribed(pair, "coord.pointAt.sky", "bibcode.load")
    galactic = SkyCoord(l=0 * u.deg, b=0 * u.deg, frame="galactic")
    receipt = await pair.out.point_at(galactic)
    assert receipt.succeeded
    params = seen["coord.pointAt.sky"]
    assert float(params["ra"]) == pytest.approx(galactic.icrs.ra.deg)
    assert float(params["dec"]) == pytest.approx(galactic.icrs.dec.deg)
    await pair.out.point_at(-10.0, 5 * u.deg)
    assert float(seen["coord.pointAt.sky"]["ra"]) == 350.0
    with pytest.raises(InvalidValueError):
        await pair.out.point_at(10.0, 95.0)
    with pytest.raises(InvalidValueError):
        await pair.out.point_at(SkyCoord([1, 2] * u.deg, [3, 4] * u.deg))
    spectrum = pd.DataFrame({"wavelength": [500.0, 501.0], "flux": [1.0, 2.0]})
    await pair.out.send_spectrum(spectrum, meta={"Target.Name": "Vega"})
    meta = seen["spectrum.load.ssa-generic"]["meta"]
    assert meta["Access.Format"] == "application/x-votable+xml"
    assert meta["Target.Name"] == "Vega"
    assert meta["Access.Reference"] == seen["spectrum.load.ssa-generic"]["url"]
    await pair.out.load_bibcode("2013A&A...558A..33A")
    assert seen["bibcode.load"] == {"bibcode": "2013A&A...558A..33A"}
    with pytest.raises(InvalidValueError):
        await pair.out.load_bibcode("short")


async def test_module_functions_share_the_default_bridge(pair: Pair) -> None:
    from jupyter_samp.data import bridge_for, send_table

    pair.inbox.on_table(lambda item: None)
    await subscribed(pair, "table.load.votable")
    receipt = await send_table(pair.sender, stars(), to="receiver")
    bridge = bridge_for(pair.sender)
    assert bridge is bridge_for(pair.sender) and isinstance(bridge, DataBridge)
    assert receipt.table.table_id in bridge.tables
    await bridge.close()


async def test_callback_errors_reach_the_sender(pair: Pair) -> None:
    async def broken(item: Received) -> None:
        raise ValueError("cannot use this table")

    pair.inbox.on_table(broken)
    await subscribed(pair, "table.load.votable")
    receipt = await pair.out.send_table(stars())
    assert "cannot use this table" in receipt.failed[me(pair.receiver)]


def test_selection_and_highlight_of_an_astropy_table() -> None:
    from astropy.table import Table

    from jupyter_samp.data.handles import TableHandle

    table = Table({"x": [1, 2, 3, 4]})
    handle = TableHandle(table, table_id="t", url="http://127.0.0.1:1/t", nrows=4)
    handle.apply_selection(np.array([1, 3]))
    handle.apply_highlight(2)
    assert list(handle.selection["x"]) == [2, 4]
    assert handle.highlighted_row["x"] == 3


async def test_selections_reach_tables_of_every_bridge_of_a_client(pair: Pair) -> None:
    """A second bridge on the sending client must not take selections from the first."""
    pair.inbox.on_table(lambda item: None)
    await subscribed(pair, "table.load.votable")
    first = (await pair.out.send_table(stars())).table
    second_bridge = DataBridge(pair.sender, timeout=20)
    try:
        second = (await second_bridge.send_table(stars().iloc[:2])).table
        for handle, rows in ((first, ["3"]), (second, ["1"])):
            await pair.receiver.call("sender", "table.select.rowList",
                                     {"table-id": handle.table_id, "row-list": rows}, timeout=10)
        assert list(first.selected_rows) == [3] and list(second.selected_rows) == [1]
    finally:
        await second_bridge.close()
    # The first bridge kept its subscription when the second closed.
    await pair.receiver.call("sender", "table.select.rowList",
                             {"table-id": first.table_id, "row-list": ["0"]}, timeout=10)
    assert list(first.selected_rows) == [0]


async def test_notebook_session_and_shortcuts_share_one_bridge(hub: Any) -> None:
    """``samp.send(df)`` then ``send_table(samp.client, df2)``: selections of both arrive."""
    from jupyter_samp.data import send_table
    from jupyter_samp.notebook import session as session_module

    session_module._session = None
    session = session_module.connection()
    try:
        await session.connect(hub="connect")
        async with connect("topcat-like", hub=hub.lockfile) as other:
            other.add_handler("table.load.votable", lambda message: {})
            await other.flush()
            assert session.client is not None
            await wait_for(lambda: bool(session.client.subscribers("table.load.votable")),
                           session.client)
            chosen: list[list[int]] = []
            handle = session.send(stars(), to="topcat-like")
            await handle.delivery
            handle.on_select(lambda event: chosen.append(list(event.rows)))
            await send_table(session.client, stars().iloc[:2], to="topcat-like")
            sender_id = session.client.self_id
            await other.call(sender_id, "table.select.rowList",
                             {"table-id": handle.table_id, "row-list": ["2"]}, timeout=10)
            assert chosen == [[2]]
    finally:
        if session.client is not None:
            await session.client.close(stop_hub=False)
        session_module._session = None


async def test_non_ascii_names_travel_in_the_votable_and_readably_in_samp(pair: Pair) -> None:
    """A table "θ¹ Ori C ✓" with a column "Hα flux".

    The column name and values arrive intact in the VOTable; SAMP's
    ``name`` reads "theta1 Ori C"; the table-id is ASCII too.
    """  # noqa: RUF002
    got: list[Received] = []
    pair.inbox.on_table(got.append)
    await subscribed(pair, "table.load.votable")
    frame = pd.DataFrame({"Hα flux": [1.5, 2.5]})  # noqa: RUF001
    receipt = await pair.out.send_table(frame, name="θ¹ Ori C ✓")
    assert receipt.ok == [pair.receiver.self_id], receipt.summary()
    (received,) = got
    assert received.name == "theta1 Ori C"
    assert list(received.data.colnames) == ["Hα flux"]  # noqa: RUF001
    assert list(received.data["Hα flux"]) == [1.5, 2.5]  # noqa: RUF001
    assert receipt.table.table_id.startswith("theta1_Ori_C-")


async def test_a_broadcast_selection_gets_no_error_from_notebooks_without_the_table(
    pair: Pair,
) -> None:
    """Two senders ("notebooks"), a viewer broadcasting a selection for one table: all answer ok."""
    async with connect("second-notebook", hub=pair.sender.hub_location) as second:
        other = DataBridge(second, timeout=20)
        try:
            pair.inbox.on_table(lambda item: None)
            await subscribed(pair, "table.load.votable")
            mine = (await pair.out.send_table(stars())).table
            await other.send_table(stars(), to=pair.receiver.self_id)
            await second.flush()
            broadcast = await pair.receiver.call_all(
                "table.select.rowList", {"table-id": mine.table_id, "row-list": ["1"]})
            answers = await broadcast.gather(timeout=10)
            assert set(answers) == {pair.sender.self_id, second.self_id}
            assert all(answer.ok for answer in answers.values()), answers
            assert "jupyter_samp.ignored" in answers[second.self_id].result
            assert list(mine.selected_rows) == [1]
        finally:
            await other.close()


async def test_a_table_sent_to_no_one_in_particular_goes_to_table_viewers_only(
    pair: Pair, hub: Any
) -> None:
    tables: list[Received] = []
    pair.inbox.on_table(tables.append)
    async with connect("imageviewer", hub=hub.lockfile) as viewer:
        catalogs: list[Message] = []
        viewer.add_handler("table.load.votable", catalogs.append)
        viewer.add_handler("image.load.fits", lambda message: None)
        await viewer.flush()
        await subscribed(pair, "table.load.votable")
        await wait_for(lambda: len(pair.sender.subscribers("image.load.fits")) == 1, pair.sender)

        default = await pair.out.send_table(stars())
        assert list(default.recipients) == [me(pair.receiver)] and not catalogs
        assert "imageviewer" in default.note and "to='all'" in default.note
        assert "imageviewer" in default.summary() and "imageviewer" in default._repr_html_()

        everyone = await pair.out.send_table(stars(), to="all")
        assert set(everyone.recipients) == {me(pair.receiver), me(viewer)}
        assert len(catalogs) == 1 and everyone.note == ""

        named = await pair.out.send_table(stars(), to="imageviewer")
        assert list(named.recipients) == [me(viewer)] and named.note == ""


async def test_with_no_table_viewer_a_table_goes_to_the_image_viewers(hub: Any) -> None:
    async with connect("sender", hub=hub.lockfile) as sender, connect(
        "imageviewer", hub=hub.lockfile
    ) as viewer:
        catalogs: list[Message] = []
        viewer.add_handler("table.load.votable", catalogs.append)
        viewer.add_handler("image.load.fits", lambda message: None)
        await viewer.flush()
        await wait_for(lambda: len(sender.subscribers("image.load.fits")) == 1, sender)
        bridge = DataBridge(sender, timeout=20)
        try:
            receipt = await bridge.send_table(stars())
        finally:
            await bridge.close()
        assert receipt.ok == [me(viewer)] and len(catalogs) == 1
        assert "no table viewer" in receipt.note
