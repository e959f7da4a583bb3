"""Query latency of `similar`'s exact Hamming search at scale, on synthetic 64-bit hashes.

    python benchmarks/dupes_scale.py [--sizes 10000 100000 1000000] [--queries 200]

Measures the search alone (the hashes already in memory as a uint64 array),
k = 5, one query at a time, as `pixrescue.similarity.distances_to` runs it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pixrescue.similarity import top_k


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print("| fingerprints | memory (MB) | median query (ms) | 99th percentile (ms) |")
    print("|---|---|---|---|")
    for n in args.sizes:
        table = rng.integers(0, 2**63, size=(n, 1), dtype=np.uint64)
        times = []
        for q in rng.integers(0, 2**63, size=args.queries, dtype=np.uint64):
            started = time.perf_counter()
            top_k(np.array([q]), table, 5)
            times.append((time.perf_counter() - started) * 1000)
        print(f"| {n:,} | {table.nbytes / 1e6:.1f} | {np.median(times):.2f} | {np.percentile(times, 99):.2f} |")


if __name__ == "__main__":
    main()
