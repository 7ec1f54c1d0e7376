"""Benchmark: a table from one SAMP client to another, ours against the usual path.

A ``rows x 10`` float64 DataFrame (default 1,000,000 rows, 80 MB of numbers)
travels from a sending client to a receiving client through our hub:

* **ours**: the sender publishes it on its resource server (VOTable BINARY2,
  streamed) and calls ``table.load.votable``; the receiver fetches it over
  HTTP and parses it (our decode). Timed from the send to the ``samp.ok``,
  which the receiver gives after parsing.
* **usual**: astropy ``Table.write(format="votable")`` (TABLEDATA, its
  default) to a temporary file, then astropy parses the file.

Each path runs in a fresh child process, which reports its time and its
peak resident memory above the baseline it had with the DataFrame built.
Also printed: serialisation speed (in-process encode of the whole document)
and the extra memory the server uses while streaming the table to a client
(tracemalloc, in a separate pass so it does not slow the timed one).

With ``--topcat`` (needs Xvfb and TOPCAT), for each of ``--topcat-rows``
(default 1,000,000 and 10,000,000), TOPCAT loads the table three ways, each
timed from the call to the ``samp.ok`` and to the moment TOPCAT lists it
(``table.select.rowList`` with an empty list answers ``samp.ok``):

* **usual**: astropy TABLEDATA to a temporary file + ``table.load.votable``
  with its ``file://`` URL (what ``pyvo.samp.send_table_to`` does); skipped
  above ``--usual-max-rows`` (it takes minutes);
* **ours, http**: ``send_table(df, transport="http")`` (VOTable BINARY2 from
  the resource server);
* **ours, auto**: ``send_table(df)``, which for TOPCAT on this machine writes
  FITS-plus into the private directory and sends ``table.load.stil``
  (``format=fits-plus``) with its ``file://`` URL.

Also printed per size: the FITS-plus writer's speed (GB/s of table written to
a local file) and its peak extra memory (tracemalloc, numpy buffers
included), the kernel's cost of the fast path.

Run::

    python benchmarks/bench_transfer.py                  # 1,000,000 rows
    python benchmarks/bench_transfer.py --skip-usual --topcat --topcat-rows 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import select
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jupyter_samp import Hub, connect
from jupyter_samp.data import DataBridge
from jupyter_samp.data.codecs.votable import plan_votable
from jupyter_samp.testing import PeerProcess, samp_environment

COLUMNS = 10


def frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(42)
    return pd.DataFrame(rng.random((rows, COLUMNS)), columns=[f"c{i}" for i in range(COLUMNS)])


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---------------------------------------------------------------- the two paths


async def ours(df: pd.DataFrame, root: Path) -> float:
    """Seconds from send_table to the receiver's samp.ok (it answers after parsing)."""
    with samp_environment(root) as env:
        async with Hub(lockfile=env.lockfile, web_profile=False), connect(
            "sender", hub=env.lockfile
        ) as sender, connect("receiver", hub=env.lockfile) as receiver:
            inbox, out = DataBridge(receiver), DataBridge(sender)
            got: list[Any] = []
            inbox.on_table(lambda item: got.append(item.data))
            await receiver.flush()
            while not sender.subscribers("table.load.votable"):
                await asyncio.sleep(0.01)  # set-up only, not timed
            start = time.perf_counter()
            receipt = await out.send_table(df, to="receiver", name="bench")
            elapsed = time.perf_counter() - start
            assert receipt.succeeded and len(got[0]) == len(df), receipt.summary()
            await out.close()
            await inbox.close()
    return elapsed


def usual(df: pd.DataFrame, root: Path) -> float:
    """Seconds for astropy to write TABLEDATA to a file and parse it back."""
    from astropy.table import Table

    path = root / "usual.vot"
    start = time.perf_counter()
    Table.from_pandas(df).write(path, format="votable", overwrite=True)
    table = Table.read(path, format="votable")
    elapsed = time.perf_counter() - start
    assert len(table) == len(df)
    return elapsed


def run_path(name: str, rows: int, queue: Any) -> None:
    """Child process: build the frame, run one path, report seconds and peak memory."""
    df = frame(rows)
    base = peak_rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        seconds = asyncio.run(ours(df, Path(tmp))) if name == "ours" else usual(df, Path(tmp))
    queue.put((seconds, peak_rss_mb() - base))


def in_child(name: str, rows: int) -> tuple[float, float]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=run_path, args=(name, rows, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


# ---------------------------------------------------------------- serving


def serialisation(df: pd.DataFrame) -> tuple[float, int]:
    plan = plan_votable(df)
    start = time.perf_counter()
    size = sum(len(piece) for piece in plan.chunks())
    return time.perf_counter() - start, size


async def serving_memory(df: pd.DataFrame) -> int:
    """Peak bytes traced while the server streams the table to a discarding client."""
    from tornado.httpclient import AsyncHTTPClient

    from jupyter_samp.data.resources import ResourceServer

    async with ResourceServer() as server:
        res = server.publish(plan_votable(df).payload(), filename="t.vot")
        client = AsyncHTTPClient(force_instance=True, max_body_size=1 << 34)
        tracemalloc.start()
        try:
            await client.fetch(res.url, streaming_callback=lambda piece: None,
                               request_timeout=600)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            client.close()


# ---------------------------------------------------------------- TOPCAT


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        pass_fds=(write_end,), start_new_session=True, stderr=subprocess.DEVNULL)
    os.close(write_end)
    ready, _, _ = select.select([read_end], [], [], 30)
    number = os.read(read_end, 64).decode().strip() if ready else ""
    os.close(read_end)
    if not number:
        raise RuntimeError("Xvfb did not start")
    return xvfb, f":{number}"


async def until_listed(client: Any, topcat: str, table_id: str, limit: float = 900) -> None:
    """Poll until TOPCAT lists the table.

    Raises
    ------
    TimeoutError
        Not listed within ``limit`` seconds (the load failed inside TOPCAT).
    """
    params = {"table-id": table_id, "row-list": []}
    deadline = time.perf_counter() + limit
    while (await client.call(topcat, "table.select.rowList", params, timeout=120,
                             check=False)).status == "samp.error":
        if time.perf_counter() > deadline:
            raise TimeoutError(f"TOPCAT did not list {table_id} within {limit:g} s")
        await asyncio.sleep(0.05)  # TOPCAT announces nothing when a load completes


USUAL = "usual (astropy TABLEDATA file + table.load.votable)"
HTTP = "ours, transport=http (VOTable BINARY2 base64 inline over HTTP)"
HREF = "ours over HTTP, BINARY2 with <STREAM href> to raw rows (measured only)"
FITS_HTTP = "ours, transport=http, format=fits (FITS-plus over HTTP)"
AUTO = "ours, transport=auto (FITS-plus file:// + table.load.stil)"
FLOOR = "floor: a FITS file already on disk + table.load.fits (writing not timed)"


async def _floor(client: Any, topcat: str, df: pd.DataFrame, root: Path, tag: str
                 ) -> tuple[float, float]:
    """TOPCAT mapping a FITS file written beforehand: what no sender can beat."""
    from astropy.table import Table

    path = root / f"floor-{tag}.fits"
    Table.from_pandas(df).write(path, format="fits", overwrite=True)
    start = time.perf_counter()
    params = {"url": path.as_uri(), "table-id": f"floor-{tag}", "name": "floor"}
    await client.call(topcat, "table.load.fits", params, timeout=3600)
    ok = time.perf_counter() - start
    await until_listed(client, topcat, f"floor-{tag}")
    listed = time.perf_counter() - start
    path.unlink()
    return ok, listed


def stream_href_votable(df: pd.DataFrame, server: Any) -> tuple[Any, Any]:
    """Publish a BINARY2 VOTable whose STREAM points at its raw rows, served separately."""


    from jupyter_samp.data.codecs import _encode
    from jupyter_samp.data.codecs._xml import document_parts
    from jupyter_samp.data.payload import BytesPayload, Segment, SegmentPayload

    plan = plan_votable(df)
    layout = _encode.binary_layout(plan.fields, True)
    step = max(1, (8 << 20) // layout.itemsize)

    def produce(start: int, stop: int) -> memoryview:
        # binary_chunk without its base64: the same rows, raw.
        raw = np.empty((stop - start) * layout.itemsize, np.uint8)
        rows = raw.view(layout)
        nulls = []
        for i, field in enumerate(plan.fields):
            values, null = _encode.binary_values(field, start, stop)
            rows[f"f{i}"] = values
            nulls.append(null)
        rows["nulls"] = _encode._null_flags(nulls, stop - start, layout["nulls"].shape[0])
        return raw.data

    segments = [Segment((min(plan.nrows, s + step) - s) * layout.itemsize,
                        lambda s=s: produce(s, min(plan.nrows, s + step)))
                for s in range(0, plan.nrows, step)]
    stream = server.publish(SegmentPayload(segments), filename="rows.bin",
                            content_type="application/octet-stream")
    head, tail = document_parts(plan)
    opening, closing = b'<STREAM encoding="base64">\n', b"</STREAM>\n"
    doc = (head[: len(head) - len(opening)] + f'<STREAM href="{stream.url}"/>\n'.encode()
           + tail[len(closing):])

    document = server.publish(BytesPayload(doc), filename="table.vot",
                              content_type="application/x-votable+xml")
    return document, stream


async def _href(bridge: DataBridge, topcat: str, df: pd.DataFrame, tag: str
                ) -> tuple[float, float]:
    start = time.perf_counter()
    document, stream = stream_href_votable(df, bridge.server)
    params = {"url": document.url, "table-id": f"href-{tag}", "name": "href"}
    answer = await bridge.client.call(topcat, "table.load.votable", params, timeout=3600)
    print(f"    STREAM href: {answer.status} {answer.errortxt or ''}", flush=True)
    ok = time.perf_counter() - start
    await until_listed(bridge.client, topcat, f"href-{tag}")
    listed = time.perf_counter() - start
    document.withdraw()
    stream.withdraw()
    return ok, listed


async def _usual(client: Any, topcat: str, df: pd.DataFrame, root: Path, tag: str
                 ) -> tuple[float, float]:
    from astropy.table import Table

    path = root / f"usual-{tag}.vot"
    start = time.perf_counter()
    Table.from_pandas(df).write(path, format="votable", overwrite=True)
    params = {"url": path.as_uri(), "table-id": f"usual-{tag}", "name": "usual"}
    await client.call(topcat, "table.load.votable", params, timeout=3600)
    ok = time.perf_counter() - start
    await until_listed(client, topcat, f"usual-{tag}")
    path.unlink()
    return ok, time.perf_counter() - start


async def _ours(bridge: DataBridge, topcat: str, df: pd.DataFrame, transport: str,
                format: str | None = None) -> tuple[float, float]:
    start = time.perf_counter()
    receipt = await bridge.send_table(df, to=topcat, name=f"ours-{transport}",
                                      transport=transport, format=format)
    ok = time.perf_counter() - start
    assert receipt.succeeded, receipt.summary()
    await until_listed(bridge.client, topcat, receipt.table.table_id)
    listed = time.perf_counter() - start

    receipt.table.withdraw()
    return ok, listed


async def topcat_times(
    sizes: list[int], root: Path, display: str, usual_max: int
) -> dict[int, dict[str, tuple[float, float]]]:
    times: dict[int, dict[str, tuple[float, float]]] = {}
    with samp_environment(root) as env:
        async with Hub(lockfile=env.lockfile, web_profile=False):
            java = ["java", f"-Duser.home={env.home}", "-Djava.awt.headless=false", "-Xmx12g",
                    "-classpath", "/usr/share/java/starlink-topcat.jar",
                    "uk.ac.starlink.topcat.Driver", "-samp"]
            async with PeerProcess(java, env=env.subprocess_env({"DISPLAY": display})), connect(
                "bench", hub=env.lockfile
            ) as client:
                while not client.subscribers("table.load.stil"):
                    await asyncio.sleep(0.1)  # set-up only, not timed
                topcat = client.subscribers("table.load.stil")[0].id
                bridge = DataBridge(client, timeout=3600, local_dir=root / "files")
                await _ours(bridge, topcat, frame(1000), "auto")  # warm TOPCAT's JIT up
                await _ours(bridge, topcat, frame(1000), "http")
                await _href(bridge, topcat, frame(1000), "warm")
                await _floor(client, topcat, frame(1000), root, "warm")
                for rows in sizes:
                    df = frame(rows)
                    found = times.setdefault(rows, {})
                    found[FLOOR] = await _floor(client, topcat, df, root, str(rows))
                    found[AUTO] = await _ours(bridge, topcat, df, "auto")
                    found[HTTP] = await _ours(bridge, topcat, df, "http")
                    found[HREF] = await _href(bridge, topcat, df, str(rows))
                    found[FITS_HTTP] = await _ours(bridge, topcat, df, "http", "fits")
                    if rows <= usual_max:
                        found[USUAL] = await _usual(client, topcat, df, root, str(rows))
                    del df
                await bridge.close()
    return times


def fits_writing(df: pd.DataFrame, root: Path) -> tuple[float, int]:
    """Seconds to write the FITS-plus file, and the writer's traced peak memory."""
    from jupyter_samp.data.codecs.fits_fast import plan_fits_table
    from jupyter_samp.data.localfiles import LocalFiles

    files = LocalFiles(root / "writing")
    try:
        start = time.perf_counter()
        written = files.write(plan_fits_table(df).payload(), "t.fits")
        seconds = time.perf_counter() - start
        written.remove()
        tracemalloc.start()
        try:
            files.write(plan_fits_table(df).payload(), "t.fits").remove()
            return seconds, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    finally:
        files.close()


def report_topcat(args: argparse.Namespace) -> None:
    sizes = [int(n) for n in args.topcat_rows.split(",")]
    print(f"load average before: {os.getloadavg()[0]:.1f} (2 cores; other sessions share them)")
    with tempfile.TemporaryDirectory() as tmp:
        for rows in sizes:
            df = frame(rows)
            seconds, peak = fits_writing(df, Path(tmp))
            table_gb = df.memory_usage(index=False).sum() / 1e9
            print(f"{rows:>11,} rows: FITS-plus written at {table_gb / seconds:.2f} GB/s "
                  f"({seconds:.3f} s), peak extra memory {peak / 1e6:.1f} MB "
                  f"({peak / 1e9 / table_gb:.3f}x the table)")
        xvfb, display = start_xvfb()
        try:
            found = asyncio.run(topcat_times(sizes, Path(tmp), display, args.usual_max_rows))
        finally:
            os.killpg(xvfb.pid, 15)
            xvfb.wait()
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    for rows, paths in found.items():
        print(f"TOPCAT, {rows:,} x {COLUMNS} float64 ({rows * COLUMNS * 8 / 1e6:.0f} MB):")
        usual_listed = paths.get(USUAL, (None, None))[1]
        for label in (USUAL, HTTP, HREF, FITS_HTTP, AUTO, FLOOR):
            if label not in paths:
                print(f"  {label}: skipped (over --usual-max-rows)")
                continue
            ok, listed = paths[label]
            ratio = f", {usual_listed / listed:.0f}x the usual path" if usual_listed else ""
            print(f"  {label}: samp.ok {ok:.2f} s, listed {listed:.2f} s{ratio}")


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--topcat", action="store_true", help="also time TOPCAT loading")
    parser.add_argument("--skip-usual", action="store_true", help="skip the slow astropy path")
    parser.add_argument("--topcat-rows", default="1000000,10000000",
                        help="comma-separated table sizes for --topcat")
    parser.add_argument("--usual-max-rows", type=int, default=1_000_000,
                        help="largest table the usual (astropy TABLEDATA) path is timed for")
    args = parser.parse_args()
    if args.topcat and args.skip_usual and args.rows == 0:
        report_topcat(args)
        return
    df = frame(args.rows)
    table_mb = df.memory_usage(index=False).sum() / 1e6
    print(f"table: {args.rows} rows x {COLUMNS} float64 columns = {table_mb:.1f} MB")

    seconds, size = serialisation(df)
    print(f"serialisation (BINARY2): {seconds:.3f} s, {table_mb / seconds:.0f} MB/s of table, "
          f"{size / 1e6 / seconds:.0f} MB/s of document ({size / 1e6:.1f} MB)")
    peak = asyncio.run(serving_memory(df))
    print(f"extra memory while serving: {peak / 1e6:.1f} MB = {peak / 1e6 / table_mb:.2f}x table")

    mine, mine_mem = in_child("ours", args.rows)
    print(f"ours end to end (publish, fetch, parse): {mine:.2f} s, "
          f"{table_mb / mine:.0f} MB/s, peak +{mine_mem:.0f} MB RSS")
    if not args.skip_usual:
        theirs, theirs_mem = in_child("usual", args.rows)
        print(f"usual (astropy TABLEDATA file, parse): {theirs:.2f} s, "
              f"{table_mb / theirs:.1f} MB/s, peak +{theirs_mem:.0f} MB RSS")
        print(f"speed-up end to end: {theirs / mine:.1f}x")

    if args.topcat:
        del df
        report_topcat(args)


if __name__ == "__main__":
    main()
