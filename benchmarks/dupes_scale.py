"""Speed of indexing and of `similar`'s search at scale.

    python benchmarks/dupes_scale.py [--sizes 10000 100000 1000000] [--queries 200] [--data ../shared/data/dev]

1. Index build rate: `pixrescue index` (catalog.update: load, 4 hashes, 2
   embeddings, SQLite) over a folder of real pictures (Kodak24, McMaster and
   CBSD68 copied to a temporary folder), in images per second.
2. Search: synthetic fingerprints already in memory (the search alone), k = 5,
   one query at a time, with the backends ``pixrescue/collection/search.py`` picks:
   64-bit hashes (uniformly random) and 128-d unit embeddings (clustered: 1%
   of N centres plus noise, so that near neighbours exist, as among real
   pictures).  Queries are stored fingerprints with a few bits flipped / a
   little noise added.  Reports the build time of the search structure, its
   memory, median and 99th-percentile query time, and for embeddings the
   recall@1 of the result against exact search.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from pixrescue.collection import catalog, search
from pixrescue.imaging.io import find_images


def index_rate(data: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files = [p for name in ("Kodak24", "McMaster", "CBSD68") for p in find_images([data / name])]
        for i, path in enumerate(files):
            shutil.copy(path, Path(tmp) / f"{i:04d}{path.suffix}")
        started = time.perf_counter()
        report = catalog.update(Path(tmp))
        seconds = time.perf_counter() - started
    print(f"| index (load, 4 hashes, 2 embeddings, SQLite) | {report.added} pictures | {seconds:.1f} s | "
          f"{report.added / seconds:.1f} images/s |\n")


def timed(function, queries) -> list[float]:
    times = []
    for q in queries:
        started = time.perf_counter()
        function(q)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/dev")
    parser.add_argument("--skip-index", action="store_true", help="Only the search part.")
    args = parser.parse_args()
    if not args.skip_index:
        print("| step | pictures | time | rate |\n|---|---|---|---|")
        index_rate(args.data)
    rng = np.random.default_rng(0)
    print("| fingerprints | kind | backend | build (s) | memory (MB) | median query (ms) | "
          "99th percentile (ms) | recall@1 vs exact |")
    print("|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        hashes = rng.integers(0, 2**63, size=(n, 1), dtype=np.uint64)
        started = time.perf_counter()
        searcher = search.HashSearcher(hashes)
        build = time.perf_counter() - started
        flips = np.uint64(1) << rng.integers(0, 64, size=(args.queries, 3)).astype(np.uint64)
        picks = hashes[rng.integers(0, n, size=args.queries), 0]
        queries = [np.array([p ^ f[0] ^ f[1] ^ f[2]]) for p, f in zip(picks, flips)]
        times = timed(lambda q: searcher.search(q, 5), queries)
        backend = "FAISS IndexBinaryFlat" if searcher.index is not None else "numpy popcount"
        print(f"| {n:,} | 64-bit hash | {backend} | {build:.2f} | {hashes.nbytes / 1e6:.1f} | "
              f"{np.median(times):.2f} | {np.percentile(times, 99):.2f} | exact |", flush=True)

        centres = rng.standard_normal((max(1, n // 100), 128)).astype(np.float32)
        vectors = centres[rng.integers(0, len(centres), size=n)] + 0.6 * rng.standard_normal((n, 128)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        started = time.perf_counter()
        searcher = search.EmbeddingSearcher(vectors[:, None, :])
        build = time.perf_counter() - started
        picks = rng.integers(0, n, size=args.queries)
        queries = [vectors[i] + 0.05 * rng.standard_normal(128).astype(np.float32) for i in picks]
        queries = [q / np.linalg.norm(q) for q in queries]
        times = timed(lambda q: searcher.search(q, 5), queries)
        exact = [int(np.argmax(vectors @ q)) for q in queries]
        found = [int(searcher.search(q, 1)[0][0]) for q in queries]
        recall = np.mean([a == b for a, b in zip(exact, found)])
        backend = f"FAISS IVFFlat, nprobe {search.NPROBE}" if searcher.index is not None else "numpy, exact"
        print(f"| {n:,} | 128-d embedding | {backend} | {build:.2f} | {vectors.nbytes / 1e6:.1f} | "
              f"{np.median(times):.2f} | {np.percentile(times, 99):.2f} | {recall:.3f} |", flush=True)


if __name__ == "__main__":
    main()
