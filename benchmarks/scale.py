"""Collections larger than one machine: duplicate groups at a million, Ray batch jobs.

    python benchmarks/scale.py dupes [--sizes 10000 100000 1000000] [--method combined]
    python benchmarks/scale.py jobs [--images 100] [--data ../shared/data/dev] [--verbs fix index]

dupes: synthetic fingerprints in memory with planted duplicate groups; 10 %
of the pictures have 1 to 4 copies each: half "re-saved" copies (pHash 0-6
bits away, classifier embedding at cosine distance about 0.01-0.05), half
"crops" (an unrelated pHash, embedding at about 0.08-0.2).  The other
pictures are random hashes and embeddings around 1 % of N cluster centres.
Each size runs in a fresh process, one process on this machine's cores;
time and peak memory (the process's maximum resident set, fingerprints
included) of ``Table.edges`` plus ``graph.components`` (the range searches, the
exact filter and the connected components; ranking the members of each group
is per group and not included).  Precision and recall are over pairs of
pictures (same group found / same group planted).  At sizes up to
``--all-pairs-up-to`` the all-pairs comparison runs too and the groups are
compared.

jobs: `pixrescue fix` and `pixrescue index` over ``--images`` photographs
(the dev set's, cut to at most 512x512 and saved as JPEG q30 to a temporary
folder): one process, then Ray Data on this machine (a local cluster
started for it), then two Ray nodes on this machine (``ray start --head``
plus a second node with its own CPUs, both stopped at the end).  Images per
second, and whether the outputs are identical to the one-process run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def synthetic(n: int, seed: int = 0):
    """(phash (N, 1) uint64, cnn (N, 1, 128) float32, planted group label per picture)."""
    rng = np.random.default_rng(seed)
    originals = n * 10 // 100 // 3  # about 10 % of the pictures are in groups of 2-5
    copies = rng.integers(1, 5, originals)
    total_copies = int(copies.sum())
    label = np.arange(n)
    source = np.repeat(np.arange(originals), copies)
    target = np.arange(originals, originals + total_copies)
    label[target] = source
    hashes = rng.integers(0, 2**63, size=n, dtype=np.uint64) ^ (rng.integers(0, 2, n, dtype=np.uint64) << np.uint64(63))
    centres = rng.standard_normal((max(1, n // 100), 128)).astype(np.float32)
    vectors = centres[rng.integers(0, len(centres), n)] * 0.6 + rng.standard_normal((n, 128)).astype(np.float32) / np.sqrt(128) * 10
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    resaved = rng.random(total_copies) < 0.5
    bits = rng.integers(0, 7, total_copies)
    flips = np.zeros(total_copies, np.uint64)
    for k in range(6):
        flips ^= np.where(k < bits, np.uint64(1) << rng.integers(0, 64, total_copies).astype(np.uint64), np.uint64(0))
    hashes[target[resaved]] = hashes[source[resaved]] ^ flips[resaved]
    spread = np.where(resaved, rng.uniform(0.1, 0.3, total_copies), rng.uniform(0.4, 0.6, total_copies))
    noise = rng.standard_normal((total_copies, 128)).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    vectors[target] = vectors[source] + noise * spread[:, None].astype(np.float32)
    vectors[target] /= np.linalg.norm(vectors[target], axis=1, keepdims=True)
    return hashes[:, None], vectors[:, None, :], label


def pair_scores(found: np.ndarray, planted: np.ndarray) -> tuple[float, float]:
    """Precision and recall over pairs of pictures: same label found / planted."""
    def pairs(counts):
        return float((counts * (counts - 1) // 2).sum())

    _, joint = np.unique(np.stack([found, planted]), axis=1, return_counts=True)
    both = pairs(joint)
    said, true = pairs(np.unique(found, return_counts=True)[1]), pairs(np.unique(planted, return_counts=True)[1])
    return both / said if said else 1.0, both / true if true else 1.0


def labels_of(n: int, groups: list[np.ndarray]) -> np.ndarray:
    label = np.arange(n)
    for members in groups:
        label[members] = members[0]
    return label


def one_size(n: int, method: str, all_pairs: bool) -> dict:
    from pixrescue.collection import graph, similarity

    hashes, vectors, planted = synthetic(n)
    data = {"phash": hashes, "cnn": vectors, "combined": [hashes, vectors]}[method]
    table = similarity.Table(None, method, data)
    threshold = similarity.default_threshold(method)
    started = time.perf_counter()
    groups = graph.components(n, *table.edges(threshold))
    seconds = time.perf_counter() - started
    backend = "range search" if table.candidates(threshold) is not None else "all pairs"
    precision, recall = pair_scores(labels_of(n, groups), planted)
    result = {"n": n, "method": method, "backend": backend, "seconds": seconds, "groups": len(groups),
              "precision": precision, "recall": recall, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if all_pairs:
        table.candidates = lambda threshold: None  # the comparison of every pair
        started = time.perf_counter()
        reference = graph.components(n, *table.edges(threshold))
        result["all_pairs_seconds"] = time.perf_counter() - started
        result["identical"] = [list(g) for g in groups] == [list(g) for g in reference]
        result["all_pairs_precision"], result["all_pairs_recall"] = pair_scores(labels_of(n, reference), planted)
    return result


def dupes(args) -> None:
    print(f"dupes: {args.method}, synthetic fingerprints with planted groups, one process per size "
          f"(protocol in the module's docstring)\n")
    print("| fingerprints | backend | time (s) | peak memory (MB) | groups | precision | recall | "
          "all pairs: time (s) | all pairs: precision / recall | identical groups |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        command = [sys.executable, __file__, "one-dupes", str(n), args.method]
        if n <= args.all_pairs_up_to:
            command.append("--all-pairs")
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if done.returncode:
            print(f"| {n:,} | failed: {done.stderr.strip().splitlines()[-1]} |", flush=True)
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        pairs = (f"{r['all_pairs_seconds']:.1f} | {r['all_pairs_precision']:.4f} / {r['all_pairs_recall']:.4f} | "
                 f"{'yes' if r['identical'] else 'NO'}") if "identical" in r else "- | - | -"
        print(f"| {n:,} | {r['backend']} | {r['seconds']:.1f} | {r['peak_mb']:.0f} | {r['groups']:,} | "
              f"{r['precision']:.4f} | {r['recall']:.4f} | {pairs} |", flush=True)


def photographs(data: Path, count: int, side: int, folder: Path) -> None:
    """``count`` dev photographs, cut to ``side`` pixels at most, as JPEG q30 in ``folder``."""
    from PIL import Image

    from pixrescue.imaging.io import find_images

    files = [p for name in ("Kodak24", "McMaster", "CBSD68", "Set14") for p in find_images([data / name])]
    folder.mkdir(parents=True)
    for i in range(count):
        with Image.open(files[i % len(files)]) as image:
            image = image.convert("RGB")
            image.crop((0, 0, min(side, image.width), min(side, image.height))).save(
                folder / f"{i:04d}.jpg", quality=30 + i // len(files))  # repeats differ a little


def two_nodes(port: int):
    """A head node and a second node on this machine, one CPU each; their processes (to stop)."""
    import shutil

    ray = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    common = ["--num-cpus", "1", "--object-store-memory", str(200 * 2**20), "--block", "--disable-usage-stats"]
    head = subprocess.Popen([ray, "start", "--head", "--port", str(port), "--include-dashboard", "false",
                             "--node-ip-address", "127.0.0.1", *common],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(8)
    second = subprocess.Popen([ray, "start", "--address", f"127.0.0.1:{port}", "--node-ip-address", "127.0.0.1",
                               *common], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(8)
    return [second, head]


def jobs(args) -> None:
    import functools
    import shutil
    import tempfile

    import pixrescue
    from pixrescue import batch, cluster
    from pixrescue.collection import catalog

    def outputs(folder: Path) -> dict:
        return {p.name: p.read_bytes() for p in folder.iterdir()}

    def rows(db: Path) -> list:
        import sqlite3

        with sqlite3.connect(db) as connection:
            return connection.execute("SELECT * FROM images ORDER BY path").fetchall()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photographs(args.data, args.images, args.side, tmp / "in")
        print(f"jobs: {args.images} dev photographs (at most {args.side}x{args.side}, JPEG q30), this machine's "
              f"{len(os.sched_getaffinity(0))} cores; fix with the default model; index into a new catalogue. "
              "Ray: one actor per CPU, one torch thread each; the one-process run uses every core's threads. "
              "Times include Ray's start of its actors (not of the cluster).\n")
        print("| verb | engine | time (s) | images/s | vs one process | identical to one process |")
        print("|---|---|---|---|---|---|")
        engines = [("one process", None), ("Ray, this machine", "local"), ("Ray, two nodes on this machine", "two")]
        reference = {}
        for name, engine in engines:
            nodes = []
            if engine == "local":
                cluster.start(num_cpus=len(os.sched_getaffinity(0)), object_store_memory=200 * 2**20)
            elif engine == "two":
                import ray

                ray.shutdown()
                nodes = two_nodes(args.port)
                cluster.start(address=f"127.0.0.1:{args.port}")
            try:
                for verb in args.verbs:
                    out = tmp / f"{verb}-{engine}"
                    started = time.perf_counter()
                    if verb == "fix":
                        plan = batch.plan([tmp / "in"], out, False, ".fixed", ".png")
                        if engine is None:
                            batch.run(plan, pixrescue.restorer(), progress=False)
                        else:
                            cluster.run(plan, functools.partial(pixrescue.restorer))
                        result = outputs(out)
                    else:
                        if engine is None:
                            catalog.update(tmp / "in", out.with_suffix(".db"))
                        else:
                            cluster.index(tmp / "in", out.with_suffix(".db"))
                        result = rows(out.with_suffix(".db"))
                    seconds = time.perf_counter() - started
                    reference.setdefault(verb, (seconds, result))
                    base, expected = reference[verb]
                    print(f"| {verb} | {name} | {seconds:.1f} | {args.images / seconds:.2f} | {base / seconds:.2f}x | "
                          f"{'yes' if result == expected else 'NO'} |", flush=True)
            finally:
                if engine is not None:
                    import ray

                    ray.shutdown()
                for process in nodes:  # the nodes this benchmark started, by their own processes
                    process.terminate()
                    process.wait(timeout=60)
        shutil.rmtree(tmp / "in")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="part", required=True)
    d = verbs.add_parser("dupes")
    d.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    d.add_argument("--method", default="combined", choices=["combined", "phash", "cnn"])
    d.add_argument("--all-pairs-up-to", type=int, default=10_000)
    j = verbs.add_parser("jobs")
    j.add_argument("--images", type=int, default=100)
    j.add_argument("--side", type=int, default=512)
    j.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/dev")
    j.add_argument("--verbs", nargs="+", default=["fix", "index"], choices=["fix", "index"])
    j.add_argument("--port", type=int, default=6390)
    one = verbs.add_parser("one-dupes")
    one.add_argument("n", type=int)
    one.add_argument("method")
    one.add_argument("--all-pairs", action="store_true")
    args = parser.parse_args()
    if args.part == "dupes":
        dupes(args)
    elif args.part == "jobs":
        jobs(args)
    elif args.part == "one-dupes":
        print(json.dumps(one_size(args.n, args.method, args.all_pairs)))


if __name__ == "__main__":
    main()
