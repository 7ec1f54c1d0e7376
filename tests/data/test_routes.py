"""Per recipient: which format, over ``file://`` or HTTP, and what the receipt says."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from astropy.table import Table

from jupyter_samp import Client, Hub, Message, connect
from jupyter_samp.data import DataBridge
from jupyter_samp.data.fetch import fetch
from jupyter_samp.errors import InvalidValueError, LocalFilesError
from jupyter_samp.testing.waiting import wait_until


def frame() -> pd.DataFrame:
    return pd.DataFrame({"ra": [1.0, 2.0, 3.0], "name": ["a", "b", None]})


class Recorder:
    """A client that accepts only some MTypes and records what it is sent."""

    def __init__(self, client: Client, *mtypes: str) -> None:
        self.client = client
        self.got: list[Message] = []
        self.mtypes = mtypes
        for mtype in mtypes:
            client.add_handler(mtype, self.load)

    def load(self, message: Message) -> dict[str, Any]:
        self.got.append(message)
        return {}

    @property
    def id(self) -> str:
        assert self.client.self_id is not None
        return self.client.self_id


@pytest.fixture
async def sender(hub: Hub, tmp_path: Path) -> AsyncIterator[DataBridge]:
    async with connect("sender", hub=hub.lockfile) as client:
        bridge = DataBridge(client, timeout=20, local_dir=tmp_path / "files")
        yield bridge
        await bridge.close()


async def known(bridge: DataBridge, *recorders: Recorder) -> None:
    for recorder in recorders:
        await recorder.client.flush()
    await wait_until(lambda: all(
        r.id in bridge.client.clients and all(bridge.client.clients[r.id].accepts(m)
                                              for m in r.mtypes)
        for r in recorders), bridge.client)


async def test_each_recipient_gets_the_format_it_takes(hub: Hub, sender: DataBridge,
                                                       tmp_path: Path) -> None:
    async with connect("fits only", hub=hub.lockfile) as a, connect(
            "votable only", hub=hub.lockfile) as b, connect("topcat", hub=hub.lockfile) as c:
        fits_only = Recorder(a, "table.load.fits")
        vot_only = Recorder(b, "table.load.votable")
        stil = Recorder(c, "table.load.fits", "table.load.votable", "table.load.stil")
        await known(sender, fits_only, vot_only, stil)
        receipt = await sender.send_table(frame(), name="sky")
        assert set(receipt.ok) == {fits_only.id, vot_only.id, stil.id}, receipt.summary()
        assert receipt.transports == {fits_only.id: "file, fits", vot_only.id: "file, votable",
                                      stil.id: "file, fits"}
        assert fits_only.got[0].mtype == "table.load.fits"
        assert vot_only.got[0].mtype == "table.load.votable"
        assert stil.got[0].mtype == "table.load.stil"
        assert stil.got[0].params["format"] == "fits-plus"
        # One FITS file serves both FITS recipients; it is a FITS table anyone can read.
        assert fits_only.got[0].params["url"] == stil.got[0].params["url"]
        path = await fetch(fits_only.got[0].params["url"])
        assert Table.read(path, hdu=1)["ra"].tolist() == [1.0, 2.0, 3.0]
        assert "[file, fits]" in receipt.summary()
        files = [p for p in (tmp_path / "files").rglob("*") if p.is_file()]
        assert len(files) == 2  # FITS-plus and VOTable
        receipt.table.withdraw()
        assert not any(p.exists() for p in files)
        over_http = await sender.send_table(frame(), to=[vot_only.id], transport="http")
        assert over_http.url is not None and over_http.url.startswith("http://127.0.0.1:")
        assert over_http.transports == {vot_only.id: "http, votable"}


async def test_non_ascii_text_goes_as_votable_and_fits_only_recipients_are_told(
        hub: Hub, sender: DataBridge) -> None:
    async with connect("fits only", hub=hub.lockfile) as a:
        fits_only = Recorder(a, "table.load.fits")
        await known(sender, fits_only)
        receipt = await sender.send_table(pd.DataFrame({"star": ["\u03b8 Ori"]}),
                                          to=fits_only.id)
        assert "not subscribed to table.load.votable" in receipt.failed[fits_only.id]
        assert fits_only.got == []


async def test_non_ascii_names_never_reach_a_plain_fits_reader(hub: Hub,
                                                               sender: DataBridge) -> None:
    """FITS-plus keeps them in its VOTable metadata; plain FITS headers would mangle them."""
    async with connect("fits only", hub=hub.lockfile) as a, connect(
            "fits or votable", hub=hub.lockfile) as b, connect("topcat", hub=hub.lockfile) as c:
        fits_only = Recorder(a, "table.load.fits")
        either = Recorder(b, "table.load.fits", "table.load.votable")
        stil = Recorder(c, "table.load.fits", "table.load.votable", "table.load.stil")
        await known(sender, fits_only, either, stil)
        table = pd.DataFrame({"H\u03b1 flux": [1.5, 2.5]})
        receipt = await sender.send_table(table, format="fits", name="lines")
        assert "'H\u03b1 flux' has a non-ASCII name" in receipt.failed[fits_only.id]
        assert "send the table as a VOTable" in receipt.failed[fits_only.id]
        assert fits_only.got == [] and either.got == []  # format="fits": no VOTable made
        assert stil.got[0].mtype == "table.load.stil"
        default = await sender.send_table(table, name="lines")
        assert set(default.ok) == {either.id, stil.id}, default.summary()
        assert either.got[0].mtype == "table.load.votable"
        assert default.transports[stil.id] == "file, fits"


async def test_without_a_safe_directory_auto_uses_http_and_file_raises(
        hub: Hub, tmp_path: Path) -> None:
    (tmp_path / "target").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "target")
    async with connect("sender", hub=hub.lockfile) as client, connect(
            "votable only", hub=hub.lockfile) as b:
        bridge = DataBridge(client, timeout=20, local_dir=tmp_path / "link")
        vot_only = Recorder(b, "table.load.votable")
        await known(bridge, vot_only)
        receipt = await bridge.send_table(frame(), to=vot_only.id)
        assert receipt.ok == [vot_only.id]
        assert receipt.transports[vot_only.id].startswith("http, votable (no local file:")
        with pytest.raises(LocalFilesError, match="symlink"):
            await bridge.send_table(frame(), to=vot_only.id, transport="file")
        with pytest.raises(InvalidValueError, match="transport"):
            await bridge.send_table(frame(), to=vot_only.id, transport="ftp")
        await bridge.close()
    assert list((tmp_path / "target").iterdir()) == []
