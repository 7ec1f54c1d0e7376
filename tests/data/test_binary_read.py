"""The vectorised BINARY/BINARY2 reader agrees with astropy, and steps aside when it must."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io.votable import parse
from astropy.io.votable.tree import VOTableFile
from astropy.table import Table

from jupyter_samp.data.codecs._binary_read import read_binary_votable
from jupyter_samp.data.codecs.decode import read_votable, to_pandas
from jupyter_samp.data.codecs.fits import fits_bytes, image_payload
from jupyter_samp.data.codecs.votable import votable_bytes


def astropy_reading(doc: bytes) -> Table:
    return parse(io.BytesIO(doc), verify="ignore").get_first_table().to_table(
        use_names_over_ids=True)


def mixed() -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "f": [1.5, np.nan, 3.0, -0.0],
            "f32": np.array([1, 2, np.nan, 4], dtype="f4"),
            "i": pd.array([1, None, 3, -(2**40)], dtype="Int64"),
            "u1": np.array([0, 255, 7, 1], dtype="u1"),
            "s": ["a", "b\u00e9", None, "\U0001f600 x"],
            "c": ["xx", "", None, "yy"],
            "b": pd.array([True, None, False, True], dtype="boolean"),
            "t": pd.to_datetime(["2020-01-01", None, "2021-06-30", "1970-01-01"]),
        },
        index=pd.Index([7, 8, 9, 10], name="id"),
    )
    df.attrs["units"] = {"f": "km/s"}
    return df


@pytest.mark.parametrize("serialization", ["binary2", "binary"])
def test_agrees_with_astropy(serialization: str) -> None:
    doc = votable_bytes(mixed(), serialization=serialization, description="demo")
    fast = read_binary_votable(doc)
    slow = astropy_reading(doc)
    assert fast is not None
    assert fast.colnames == slow.colnames
    for name in fast.colnames:
        ours, theirs = fast[name], slow[name]
        assert ours.dtype.kind == theirs.dtype.kind, name
        assert ours.unit == theirs.unit and ours.info.meta == theirs.info.meta, name
        if name in ("s", "c", "t"):
            # Null text is masked by its BINARY2 flag here (astropy ignores the flag).
            assert list(ours.filled("")) == list(theirs.filled("")), name
        else:
            np.testing.assert_array_equal(np.ma.getmaskarray(ours), np.ma.getmaskarray(theirs))
            np.testing.assert_array_equal(ours.filled(0), theirs.filled(0))


def test_round_trip_keeps_nulls_of_every_type() -> None:
    df = mixed()
    back = to_pandas(read_votable(votable_bytes(df))).set_index("id")
    pd.testing.assert_frame_equal(back, df, check_dtype=False, check_index_type=False)


def test_array_cells_and_paths(tmp_path: Path) -> None:
    table = Table({"v": np.arange(12.0).reshape(4, 3), "m": np.arange(24).reshape(4, 3, 2)})
    doc = votable_bytes(table)
    fast = read_binary_votable(doc)
    assert fast is not None
    np.testing.assert_array_equal(fast["v"], table["v"])
    np.testing.assert_array_equal(fast["m"], table["m"])
    path = tmp_path / "t.vot"
    path.write_bytes(doc)
    np.testing.assert_array_equal(read_votable(path)["m"], table["m"])
    np.testing.assert_array_equal(read_votable(path.as_uri())["v"], table["v"])


def test_documents_it_cannot_read_go_to_astropy() -> None:
    table = Table({"x": [1.0, 2.0]})
    assert read_binary_votable(votable_bytes(table, serialization="tabledata")) is None
    doc = votable_bytes(table, serialization="binary")
    start, end = doc.index(b"<TABLE"), doc.index(b"</TABLE>") + len(b"</TABLE>\n")
    two = doc[:end] + doc[start:end] + doc[end:]  # the same table twice
    assert read_binary_votable(two) is None
    assert len(read_votable(two, table=1)) == 2
    variable = VOTableFile.from_table(Table({"s": np.array(["a", "bbbb"], dtype=object)}))
    variable.get_first_table().format = "binary2"
    buffer = io.BytesIO()
    variable.to_xml(buffer)
    assert read_binary_votable(buffer.getvalue()) is None
    assert list(read_votable(buffer.getvalue())["s"]) == ["a", "bbbb"]


def test_empty_table() -> None:
    doc = votable_bytes(pd.DataFrame({"x": np.zeros(0), "s": np.array([], dtype=object)}))
    fast = read_binary_votable(doc)
    assert fast is not None and len(fast) == 0 and fast.colnames == ["x", "s"]


@pytest.mark.parametrize("dtype", ["f4", ">f8", "i2", "u1", "i8", "u2", "i1", "bool"])
def test_streamed_fits_image_equals_astropy_output(dtype: str) -> None:
    image = (np.arange(70 * 50) % 200).reshape(70, 50).astype(dtype)
    payload = image_payload(image, header={"OBJECT": "M 31"})
    streamed = b"".join(payload.open(0))
    assert streamed == fits_bytes(image, header={"OBJECT": "M 31"})
    assert payload.length() == len(streamed)
    assert b"".join(payload.open(5000)) == streamed[5000:]
