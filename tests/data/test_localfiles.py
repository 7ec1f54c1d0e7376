"""The private directory for ``file://`` data, and the FITS-plus writer behind it."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

from jupyter_samp.data.codecs.fits_fast import plan_fits_table
from jupyter_samp.data.localfiles import LocalFiles, LocalFilesError
from jupyter_samp.data.payload import BytesPayload

REPO = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_files_are_private_and_go_with_remove_and_close(tmp_path: Path) -> None:
    files = LocalFiles(tmp_path / "base")
    written = files.write(BytesPayload(b"abc" * 1000), "t.fits")
    assert written.path.read_bytes() == b"abc" * 1000 and written.size == 3000
    assert written.url.startswith("file://") and written.url.endswith("-t.fits")
    assert mode(written.path) == 0o600
    assert mode(files.path) == 0o700 and mode(files.base) == 0o700
    written.remove()
    assert not written.path.exists()
    again = files.write([b"x", memoryview(b"yz")], "u.vot")
    files.close()
    assert not again.path.exists() and not files.path.exists()
    files.close()  # twice is harmless
    with pytest.raises(LocalFilesError, match="closed"):
        files.write([b"x"], "late.fits")


_PEEK = """
import os, sys
os.setgid(65534); os.setuid(65534)
for path in sys.argv[1:]:
    try:
        os.listdir(path) if os.path.isdir(path) else open(path, "rb").read()
        print("read", path)
    except PermissionError:
        print("refused", path)
"""


def test_another_user_cannot_list_or_read_the_files() -> None:
    # Outside pytest's own 0700 directories, so that only ours keep another user out.
    root = Path(tempfile.mkdtemp())
    try:
        os.chmod(root, 0o755)
        (root / "open.txt").write_text("anyone")  # the control: reachable and readable
        files = LocalFiles(root / "base")
        written = files.write([b"secret"], "t.fits")
        if os.getuid() == 0:  # root can check as another user (nobody)
            paths = [str(root / "open.txt"), str(files.base), str(files.path), str(written.path)]
            peek = subprocess.run([sys.executable, "-c", _PEEK, *paths], capture_output=True,
                                  text=True, timeout=60)
            assert peek.stdout.split() == ["read", paths[0], "refused", paths[1],
                                           "refused", paths[2], "refused", paths[3]], peek.stderr
        for private in (files.base, files.path):
            assert mode(private) & 0o077 == 0
        assert mode(written.path) & 0o077 == 0
        files.close()
    finally:
        shutil.rmtree(root)


def test_a_symlink_or_a_file_in_place_of_the_directory_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(LocalFilesError, match="symlink"):
        LocalFiles(tmp_path / "link")
    (tmp_path / "plain").write_text("")
    with pytest.raises(LocalFilesError):
        LocalFiles(tmp_path / "plain")
    assert list(target.iterdir()) == []


def test_a_loose_base_directory_is_made_private(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir(mode=0o755)
    os.chmod(base, 0o755)
    LocalFiles(base).close()
    assert mode(base) == 0o700


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    files = LocalFiles(tmp_path)

    def broken() -> list[bytes]:
        raise RuntimeError("encoder failed")

    class Failing(BytesPayload):
        def open(self, start: int = 0):  # type: ignore[no-untyped-def]
            yield b"partial"
            broken()

    with pytest.raises(RuntimeError):
        files.write(Failing(b""), "t.fits")
    assert list(files.path.iterdir()) == [] and files.files == []
    files.close()


_CRASH = """
import os, sys
from jupyter_samp.data.localfiles import LocalFiles
files = LocalFiles(sys.argv[1])
written = files.write([b"data"], "t.fits")
print(written.path, flush=True)
os.kill(os.getpid(), 9)
"""


def test_files_of_a_killed_process_go_at_the_next_start(tmp_path: Path) -> None:
    base = tmp_path / "files"
    child = subprocess.run([sys.executable, "-c", _CRASH, str(base)], capture_output=True,
                           text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert child.returncode == -signal.SIGKILL, child.stderr
    left = Path(child.stdout.strip())
    assert left.exists()  # kill -9 leaves it behind...
    files = LocalFiles(base)  # ...and the next start removes it
    assert not left.exists() and not left.parent.exists()
    assert [p.name for p in base.iterdir()] == [files.path.name]
    files.close()


def test_fits_plus_holds_every_column_kind(tmp_path: Path) -> None:
    df = pd.DataFrame({
        "n": np.array([3, -7, 42], np.int16),
        "nobs": pd.array([1, None, 3], dtype="Int64"),
        "flux": [1.5, np.nan, 2.0],
        "good": pd.array([True, None, False], dtype="boolean"),
        "label": ["a", "bb", None],
        "small": np.array([1, 2, 255], np.uint8),
    }, index=pd.Index([10, 20, 30], name="source_id"))
    df.attrs["units"] = {"flux": "mJy"}
    df.attrs["descriptions"] = {"flux": "flüx"}
    plan = plan_fits_table(df, name="tést")
    assert plan.fits_ok
    path = tmp_path / "t.fits"
    path.write_bytes(b"".join(bytes(p) for p in plan.payload().open(0)))
    assert path.stat().st_size % 2880 == 0
    with fits.open(path) as hdul:
        head = hdul[0].header
        assert list(head)[:5] == ["SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "VOTMETA"]
        assert "flüx" in hdul[0].data.tobytes().decode("utf-8")
    with fits.open(path, logical_as_bytes=True) as hdul:
        assert hdul[1].data["good"].tolist() == [b"T", b"", b"F"]  # byte 0 is FITS's null
        assert np.isnan(hdul[1].data["flux"][1])
    with fits.open(path, logical_as_bytes=True) as hdul:
        table = Table.read(hdul, hdu=1)
    assert table.colnames == ["source_id", "n", "nobs", "flux", "good", "label", "small"]
    assert table["n"].tolist() == [3, -7, 42] and str(table["flux"].unit) == "mJy"
    assert table["nobs"].mask.tolist() == [False, True, False]
    assert table["small"].tolist() == [1, 2, 255]


def test_non_ascii_text_is_not_offered_as_fits() -> None:
    plan = plan_fits_table(pd.DataFrame({"star": ["\u03b8 Ori", "Vega"]}))
    assert not plan.fits_ok and "star" in (plan.why_not or "")
    with pytest.raises(ValueError, match="non-ASCII"):
        plan.payload()
