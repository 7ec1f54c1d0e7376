"""FITS encoders and decoders: real files written by astropy and read back."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from jupyter_samp.data.codecs.decode import read_fits_image, read_fits_table
from jupyter_samp.data.codecs.fits import fits_bytes, table_fits_bytes
from jupyter_samp.errors import InvalidValueError


def tan_wcs() -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.5]
    wcs.wcs.crpix = [16.0, 8.0]
    wcs.wcs.cdelt = [-0.001, 0.001]
    return wcs


def test_image_with_wcs_round_trip(tmp_path: Path) -> None:
    image = np.arange(32 * 16, dtype="f4").reshape(16, 32)
    data = fits_bytes(image, wcs=tan_wcs(), header={"OBJECT": "M 42"})
    path = tmp_path / "image.fits"
    path.write_bytes(data)
    for source in (data, path):
        hdul = read_fits_image(source)
        assert len(hdul) == 1
        header = hdul[0].header
        assert header["CTYPE1"] == "RA---TAN" and header["CRVAL2"] == 2.5
        assert header["OBJECT"] == "M 42"
        np.testing.assert_array_equal(hdul[0].data, image)
        world = WCS(header).pixel_to_world_values(15.0, 7.0)
        np.testing.assert_allclose(world, (150.0, 2.5))


@pytest.mark.parametrize("shape", [(4,), (2, 3, 4)])
def test_non_2d_images_are_refused_unless_allowed(shape: tuple[int, ...]) -> None:
    cube = np.zeros(shape, dtype="i2")
    with pytest.raises(InvalidValueError, match="2-D"):
        fits_bytes(cube)
    with pytest.raises(InvalidValueError, match="2-D"):
        fits_bytes(fits.ImageHDU(cube))
    hdul = fits.open(io.BytesIO(fits_bytes(cube, allow_ndim=True)))
    assert hdul[0].data.shape == shape


def test_hdulist_passes_through_unchanged() -> None:
    hdul = fits.HDUList(
        [fits.PrimaryHDU(np.ones((2, 2))), fits.ImageHDU(np.zeros((3, 3)), name="ERR")]
    )
    expected = io.BytesIO()
    hdul.writeto(expected)
    assert fits_bytes(hdul) == expected.getvalue()
    back = read_fits_image(fits_bytes(hdul))
    assert [h.name for h in back] == ["PRIMARY", "ERR"]
    with pytest.raises(InvalidValueError, match="images"):
        fits_bytes(hdul, wcs=tan_wcs())


def test_structural_cards_follow_the_data() -> None:
    # A header copied from a 3-D 16-bit file must not describe our 2-D float image.
    header = fits.Header({"NAXIS": 3, "NAXIS3": 5, "BITPIX": 16, "TELESCOP": "X"})
    hdu = fits.open(io.BytesIO(fits_bytes(np.zeros((2, 3)), header=header)))[0]
    assert (hdu.header["NAXIS"], hdu.header["BITPIX"], hdu.header["TELESCOP"]) == (2, -64, "X")
    assert hdu.data.shape == (2, 3)


def test_image_hdu_becomes_primary_with_its_header() -> None:
    hdu = fits.ImageHDU(np.ones((2, 3), dtype="i4"), name="SCI")
    hdu.header["EXPTIME"] = 30.0
    back = fits.open(io.BytesIO(fits_bytes(hdu)))
    assert isinstance(back[0], fits.PrimaryHDU)
    assert back[0].header["EXPTIME"] == 30.0
    assert back[0].data.dtype == np.dtype(">i4")


def test_image_dtypes() -> None:
    masked = np.ma.MaskedArray(np.ones((2, 2), dtype="i2"), mask=[[0, 1], [0, 0]])
    data = fits.open(io.BytesIO(fits_bytes(masked)))[0].data
    assert np.isnan(data[0, 1]) and data[0, 0] == 1.0
    flags = fits.open(io.BytesIO(fits_bytes(np.eye(2, dtype=bool))))[0].data
    assert flags.tolist() == [[1, 0], [0, 1]]
    with pytest.raises(InvalidValueError, match="complex"):
        fits_bytes(np.zeros((2, 2), dtype=complex))
    with pytest.raises(InvalidValueError, match="FITS"):
        fits_bytes("not an image")


def test_table_hdu_goes_in_an_extension() -> None:
    hdu = fits.BinTableHDU(Table({"a": [1, 2]}), name="CAT")
    back = read_fits_table(fits_bytes(hdu))
    assert back["a"].tolist() == [1, 2]


def test_dataframe_table_round_trip(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "x": [1.5, np.nan, 3.0],
            "n": pd.array([1, None, 16959], dtype="Int16"),
            "ok": pd.array([True, None, False], dtype="boolean"),
            "s": ["a", None, "ccc"],
            "c": pd.Categorical(["u", "v", None]),
            "t": pd.to_datetime(["2020-01-01T00:00:00", None, "2020-01-02T03:04:05"]),
        },
        index=pd.Index([10, 11, 12], name="id"),
    )
    df.attrs["units"] = {"x": "km/s"}
    path = tmp_path / "table.fits"
    path.write_bytes(table_fits_bytes(df))
    table = read_fits_table(path)
    assert table.colnames == ["id", "x", "n", "ok", "s", "c", "t"]
    assert table["id"].tolist() == [10, 11, 12]
    assert table["x"].unit == "km / s"
    assert np.ma.getmaskarray(table["x"]).tolist() == [False, True, False]
    # The null value is chosen outside the data (astropy's default would be 16959).
    assert table["n"].mask.tolist() == [False, True, False] and table["n"][2] == 16959
    assert table["ok"].mask.tolist() == [False, True, False] and table["ok"][0] == 1
    assert table["s"][0] == "a" and table["t"][2] == "2020-01-02T03:04:05"


def test_astropy_table_and_refusals() -> None:
    table = Table({"ra": [1.0, 2.0]}, meta={"EXTNAME": "CAT"})
    table["ra"].unit = "deg"
    back = read_fits_table(table_fits_bytes(table), hdu="CAT")
    assert back["ra"].unit == "deg"
    with pytest.raises(InvalidValueError, match="ASCII"):
        table_fits_bytes(pd.DataFrame({"s": ["é"]}))
    with pytest.raises(InvalidValueError, match="'o'"):
        table_fits_bytes(pd.DataFrame({"o": [1, "x"]}))


def test_decoders_refuse_what_they_cannot_read() -> None:
    with pytest.raises(InvalidValueError, match="FITS"):
        read_fits_image(b"definitely not FITS")
    with pytest.raises(InvalidValueError, match="no table"):
        read_fits_table(fits_bytes(np.zeros((2, 2))))
    with pytest.raises(InvalidValueError, match="no image"):
        read_fits_image(fits_bytes(fits.BinTableHDU(Table({"a": [1]}))))


def test_a_non_ascii_column_name_is_refused_by_name_before_anything_is_sent() -> None:
    from jupyter_samp.data.codecs.fits import table_fits_bytes
    from jupyter_samp.errors import InvalidValueError

    frame = pd.DataFrame({"flux": [1.0], "Hα flux": [2.0]})  # noqa: RUF001
    with pytest.raises(InvalidValueError, match="column 'Hα flux' has a non-ASCII name"):  # noqa: RUF001
        table_fits_bytes(frame)
    described = Table({"x": [1.0]})
    described["x"].description = "flux at Hα"  # noqa: RUF001
    with pytest.raises(InvalidValueError, match="non-ASCII description"):
        table_fits_bytes(described)
