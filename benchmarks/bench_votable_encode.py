"""Benchmark: our streaming VOTable writer against astropy's.

Writes a ``rows x cols`` float64 DataFrame (default 1,000,000 x 10) as:

* ours, BINARY2 (the default), whole document and streamed to a sink;
* ours, TABLEDATA;
* astropy ``Table.write(format="votable")`` (TABLEDATA, its default) and,
  with ``--astropy-binary2``, astropy's BINARY2, both to a temporary file.

For each it prints seconds (best of ``--repeat``), MB/s of binary payload
(rows x cols x 8 bytes) and, for ours, the peak extra memory of streaming
measured with tracemalloc (numpy reports its buffers to tracemalloc).
Astropy's TABLEDATA writer takes ~45 s for 1e6 rows; use ``--rows`` to shrink.

Run::

    python benchmarks/bench_votable_encode.py --rows 200000
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from jupyter_samp.data.codecs.votable import iter_votable, votable_bytes


def best_of(repeat: int, action: Callable[[], object]) -> float:
    """Fastest wall-clock time of ``repeat`` runs of ``action``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def stream(df: pd.DataFrame) -> int:
    """Consume the streamed document as a server would, keeping nothing."""
    return sum(len(piece) for piece in iter_votable(df))


def peak_streaming_memory(df: pd.DataFrame) -> float:
    """Peak memory (MB) allocated while streaming, beyond what existed before."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        stream(df)
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def astropy_write(df: pd.DataFrame, fmt: str) -> Callable[[], object]:
    """An action writing ``df`` with astropy's VOTable writer to a temporary file."""
    from astropy.table import Table

    table = Table.from_pandas(df)

    def action() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "table.vot"
            table.write(path, format="votable", tabledata_format=fmt)

    return action


def report(label: str, seconds: float, payload_mb: float, baseline: float | None) -> None:
    ratio = f"  x{baseline / seconds:8.1f} vs astropy TABLEDATA" if baseline else ""
    print(f"{label:<34} {seconds:8.3f} s {payload_mb / seconds:9.1f} MB/s{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-astropy", action="store_true", help="only time our writer")
    parser.add_argument("--astropy-binary2", action="store_true", help="also time astropy BINARY2")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    names = [f"c{i}" for i in range(args.cols)]
    df = pd.DataFrame(rng.random((args.rows, args.cols)), columns=names)
    payload = args.rows * args.cols * 8 / 1e6
    print(f"{args.rows:,} rows x {args.cols} float64 columns = {payload:.1f} MB of binary payload")

    ours = best_of(args.repeat, lambda: votable_bytes(df))
    streamed = best_of(args.repeat, lambda: stream(df))
    tabledata = best_of(1, lambda: votable_bytes(df, serialization="tabledata"))
    size = len(votable_bytes(df)) / 1e6
    print(f"document size (BINARY2): {size:.1f} MB")
    print(f"peak extra memory while streaming: {peak_streaming_memory(df):.1f} MB")

    baseline = None
    if not args.skip_astropy:
        baseline = best_of(1, astropy_write(df, "tabledata"))
    report("ours BINARY2 (votable_bytes)", ours, payload, baseline)
    report("ours BINARY2 (iter_votable)", streamed, payload, baseline)
    report("ours TABLEDATA", tabledata, payload, baseline)
    if baseline is not None:
        report("astropy TABLEDATA (to file)", baseline, payload, baseline)
    if args.astropy_binary2:
        seconds = best_of(1, astropy_write(df, "binary2"))
        report("astropy BINARY2 (to file)", seconds, payload, baseline)


if __name__ == "__main__":
    main()
