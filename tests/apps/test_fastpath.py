"""The same-host fast path with the real TOPCAT and DS9: private ``file://`` URLs.

Each load is checked by asking the application what it holds
(``table.get.stil``, ``ds9.get "fits size"``), as in :mod:`tests.apps.test_topcat_ds9`.
"""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytest_asyncio

from jupyter_samp.data import DataBridge
from jupyter_samp.data.localfiles import LocalFiles
from tests.apps.conftest import Desktop
from tests.apps.test_topcat_ds9 import assert_holds_mixed_frame, mixed_frame, topcat_table

pytestmark = [pytest.mark.peers, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module")
async def bridge(desktop: Desktop, tmp_path: Path) -> AsyncIterator[DataBridge]:
    """A bridge of the desktop's client whose private files go under ``tmp_path``."""
    own = DataBridge(desktop.client, timeout=120, local_dir=tmp_path / "files")
    yield own
    await own.close()


def described_frame() -> pd.DataFrame:
    df = mixed_frame()
    df.attrs["ucds"] = {"flux": "phot.flux.density"}
    df.attrs["descriptions"] = {"flux": "peak flux, in mJy (±5 %)"}
    return df


def only_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def test_topcat_maps_every_column_kind_from_a_local_fits_file(
    desktop: Desktop, bridge: DataBridge, tmp_path: Path
) -> None:
    df = described_frame()
    receipt = await bridge.send_table(df, to="topcat", name="fast mixed")
    assert receipt.ok == [desktop.topcat], receipt.summary()
    assert receipt.transports[desktop.topcat] == "file, fits", receipt.summary()
    assert receipt.mtype == "table.load.stil" and receipt.url.startswith("file://")
    held = await topcat_table(desktop, receipt.table.table_id)
    assert_holds_mixed_frame(held, df)
    assert held.attrs["ucds"]["flux"] == "phot.flux.density"
    assert held.attrs["descriptions"]["flux"] == "peak flux, in mJy (±5 %)"
    # The file is private, and goes when the handle is dropped.
    (written,) = only_files(tmp_path / "files")
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    for directory in (written.parent, written.parent.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    receipt.table.withdraw()
    assert not written.exists()


async def test_non_ascii_text_goes_as_a_local_votable(desktop: Desktop,
                                                      bridge: DataBridge) -> None:
    df = pd.DataFrame({"star": ["θ¹ Ori C", "Betelgeuse", "\u03b1 Cen"], "v": [5.1, 0.5, -0.1]})
    receipt = await bridge.send_table(df, to="topcat", name="étoiles")
    assert receipt.ok == [desktop.topcat], receipt.summary()
    assert receipt.transports[desktop.topcat] == "file, votable", receipt.summary()
    held = await topcat_table(desktop, receipt.table.table_id)
    assert held["star"].tolist() == df["star"].tolist()


async def test_a_file_the_recipient_cannot_read_falls_back_to_http(
    desktop: Desktop, bridge: DataBridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = LocalFiles.write

    def lost(self: LocalFiles, payload: object, filename: str) -> object:
        result = written(self, payload, filename)  # type: ignore[arg-type]
        result.path.unlink()  # as if TOPCAT ran where this file is not
        return result

    monkeypatch.setattr(LocalFiles, "write", lost)
    df = mixed_frame()
    receipt = await bridge.send_table(df, to="topcat", name="fallback")
    assert receipt.ok == [desktop.topcat], receipt.summary()
    how = receipt.transports[desktop.topcat]
    assert how.startswith("http, votable (the file:// URL failed"), how
    held = await topcat_table(desktop, receipt.table.table_id)
    assert held["count"].tolist() == df["count"].tolist()
    # Without fallback the failure is reported as it is.
    forced = await bridge.send_table(df, to="topcat", name="no fallback", transport="file")
    assert desktop.topcat in forced.failed, forced.summary()


async def test_ds9_loads_an_image_from_a_local_file(desktop: Desktop, bridge: DataBridge,
                                                    tmp_path: Path) -> None:
    image = np.arange(60 * 40, dtype="f4").reshape(40, 60)
    receipt = await bridge.send_image(image, to="ds9", name="ramp")
    assert receipt.ok == [desktop.ds9], receipt.summary()
    assert receipt.transports[desktop.ds9] == "file, fits"
    size = await desktop.client.call(desktop.ds9, "ds9.get", {"cmd": "fits size"}, timeout=30)
    assert size.result["value"].split() == ["60", "40"]
    assert only_files(tmp_path / "files")
    await bridge.close()
    assert not (tmp_path / "files").exists() or not only_files(tmp_path / "files")
