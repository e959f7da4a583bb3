"""Long fuzz run over the readers of untrusted input: the image loader, the
JPEG table reader, the shrink-note reader and the catalogue reader.

    python benchmarks/fuzz.py --inputs 100000 [--seed N] [--workers K]
                              [--timeout 10] [--memory-gb 4] [--max-pixels P] [--out FOLDER]
    python benchmarks/fuzz.py --replay FOLDER/load-000123-raw.gif

The inputs are those of tests/test_fuzz.py (the seeds, mutations and
targets live in tests/fuzzing.py, shared by both): input ``i`` of seed ``N``
is the same every time, and ``--seed 2024 --inputs 6000`` is the test's run.
Each input runs in a pool of worker processes, one input at a time per
worker, with a wall-clock limit per input (a worker past it is killed and
replaced: a hang) and an address-space limit per worker (RLIMIT_AS: a
MemoryError under it, or a worker killed by the kernel, counts as over the
limit).  Every input that let out anything but success or the project's own
errors is written to the output folder (default runs/fuzz-seed<N>, ignored
by git) with a findings.tsv that lists them; ``--replay`` runs one such file
in this process and shows the traceback.

The table: inputs run per target; successes; clean errors (the project's
own: ImageLoadError, NotShrunkError, a catalogue error, or for the JPEG
reader a file Pillow refuses to open); raw exceptions (by type, with a
reproducer); hangs over the time limit; workers over the memory limit;
workers that died otherwise (a crash in a decoder).  The exit status is 1
when any of the last four happened.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import signal
import sys
import tempfile
import time
import traceback
from multiprocessing.connection import wait
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import fuzzing  # noqa: E402  (tests/fuzzing.py)

COLUMNS = ("ok", "clean", "raw", "hang", "memory", "crash")
STARTUP_TIMEOUT = 300  # s for a worker to import what it needs
HEADINGS = {"ok": "ok", "clean": "clean", "raw": "raw", "hang": "hangs", "memory": "over mem", "crash": "crashes"}


def worker(connection, memory_bytes: int, max_pixels: int | None) -> None:
    """A child: limit its address space, then run the inputs it is sent."""
    import resource

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles ^C
    # Import what the targets need before the first input's clock starts (torch takes seconds).
    import pixrescue.collection.catalog  # noqa: F401
    import pixrescue.imaging  # noqa: F401
    import pixrescue.tasks.rescale  # noqa: F401

    connection.send(("ready", ""))
    with tempfile.TemporaryDirectory(prefix="pixrescue-fuzz-") as folder:
        while True:
            try:
                case = connection.recv()
            except EOFError:
                return
            if case is None:
                return
            outcome = fuzzing.run_case(case, Path(folder), max_pixels)
            connection.send((outcome.kind, outcome.detail))


class Pool:
    """Workers that run one input at a time each, replaced when they hang or die."""

    def __init__(self, size: int, memory_bytes: int, max_pixels: int | None, timeout: float) -> None:
        self.context = multiprocessing.get_context("spawn")  # no fork of a process holding torch's threads
        self.memory_bytes, self.max_pixels, self.timeout = memory_bytes, max_pixels, timeout
        self.slots = [self._start() for _ in range(size)]
        self.busy: dict[int, tuple[fuzzing.Case, float]] = {}  # slot -> (case, deadline)

    def _start(self):
        parent, child = self.context.Pipe()
        process = self.context.Process(target=worker, args=(child, self.memory_bytes, self.max_pixels), daemon=True)
        process.start()
        child.close()
        if not parent.poll(STARTUP_TIMEOUT) or parent.recv() != ("ready", ""):
            process.kill()
            raise RuntimeError(f"a fuzz worker did not start within {STARTUP_TIMEOUT} s")
        return process, parent

    def _replace(self, slot: int) -> None:
        process, connection = self.slots[slot]
        if process.is_alive():
            process.kill()
        process.join()
        connection.close()
        self.slots[slot] = self._start()

    def free(self) -> list[int]:
        return [slot for slot in range(len(self.slots)) if slot not in self.busy]

    def submit(self, slot: int, case: fuzzing.Case) -> None:
        self.slots[slot][1].send(case)
        self.busy[slot] = (case, time.monotonic() + self.timeout)

    def collect(self) -> list[tuple[fuzzing.Case, str, str]]:
        """Wait for at least one result (or a hang or a death): (case, kind, detail)."""
        done = []
        while not done:
            by_connection = {self.slots[slot][1]: slot for slot in self.busy}
            by_sentinel = {self.slots[slot][0].sentinel: slot for slot in self.busy}
            nearest = min(deadline for _, deadline in self.busy.values())
            ready = wait([*by_connection, *by_sentinel], timeout=max(0.0, nearest - time.monotonic()))
            finished = set()
            for item in ready:
                if item in by_connection:
                    slot = by_connection[item]
                    try:
                        kind, detail = item.recv()
                    except (EOFError, OSError):
                        continue  # it died: its sentinel says how
                    done.append((self.busy.pop(slot)[0], kind, detail))
                    finished.add(slot)
            for item in ready:
                slot = by_sentinel.get(item)
                if slot is None or slot in finished or slot not in self.busy:
                    continue
                process = self.slots[slot][0]
                process.join()
                code = process.exitcode
                if code == -signal.SIGKILL:  # the kernel's answer to memory it could not give
                    kind, detail = "memory", "killed (SIGKILL)"
                else:
                    name = signal.Signals(-code).name if code is not None and code < 0 else f"exit {code}"
                    kind, detail = "crash", f"worker died ({name})"
                done.append((self.busy.pop(slot)[0], kind, detail))
                self._replace(slot)
            now = time.monotonic()
            for slot, (case, deadline) in list(self.busy.items()):
                if now >= deadline:
                    del self.busy[slot]
                    self._replace(slot)
                    done.append((case, "hang", f"over {self.timeout:g} s"))
        return done

    def close(self) -> None:
        for process, connection in self.slots:
            try:
                connection.send(None)
            except OSError:
                pass
        for process, connection in self.slots:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
            connection.close()


def reproducer_name(case: fuzzing.Case, kind: str) -> str:
    return f"{case.target}-{case.index:06d}-{kind}{case.suffix}"


def run(args) -> int:
    out = Path(args.out or ROOT / "runs" / f"fuzz-seed{args.seed}")
    limit_bytes = int(args.memory_gb * 2**30)
    started = time.monotonic()
    counts: dict[str, collections.Counter] = {target: collections.Counter() for target in fuzzing.TARGETS}
    raw_types: dict[tuple[str, str], list] = {}
    findings = []
    print(f"fuzz: seed {args.seed}, inputs {args.start}..{args.start + args.inputs - 1}, {args.workers} worker(s), "
          f"limits {args.timeout:g} s and {args.memory_gb:g} GB per input, max_pixels {args.max_pixels}", flush=True)
    fuzzing.image_seeds()
    fuzzing.catalog_seed()
    pool = Pool(args.workers, limit_bytes, args.max_pixels, args.timeout)
    indices = iter(range(args.start, args.start + args.inputs))
    remaining = args.inputs
    last_report = time.monotonic()

    def record(case: fuzzing.Case, kind: str, detail: str) -> None:
        counts[case.target][kind] += 1
        if kind in ("ok", "clean"):
            return
        out.mkdir(parents=True, exist_ok=True)
        path = out / reproducer_name(case, kind)
        path.write_bytes(case.payload)
        findings.append((case, kind, detail, path))
        key = (case.target, detail.split(":")[0] if kind == "raw" else kind)
        raw_types.setdefault(key, []).append((path, detail))

    try:
        while remaining:
            for slot in pool.free():
                index = next(indices, None)
                if index is None:
                    break
                pool.submit(slot, fuzzing.make_case(args.seed, index))
            for case, kind, detail in pool.collect():
                record(case, kind, detail)
                remaining -= 1
            if time.monotonic() - last_report > 60:
                last_report = time.monotonic()
                total = sum(sum(c.values()) for c in counts.values())
                print(f"  {total} inputs, {len(findings)} findings, {time.monotonic() - started:.0f} s",
                      file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("interrupted: the table covers the inputs run so far", file=sys.stderr)
    finally:
        pool.close()
    elapsed = time.monotonic() - started

    if findings:
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "findings.tsv", "w") as table:
            table.write("index\ttarget\tseed file\tkind\tdetail\treproducer\n")
            for case, kind, detail, path in findings:
                table.write(f"{case.index}\t{case.target}\t{case.seed_name}\t{kind}\t{detail}\t{path.name}\n")
    print_table(counts, args)
    total = sum(sum(c.values()) for c in counts.values())
    print(f"{total} inputs in {elapsed:.1f} s ({total / max(elapsed, 1e-9):.0f} inputs/s)")
    if raw_types:
        print(f"findings (reproducers and findings.tsv in {out}):")
        for (target, kind), items in sorted(raw_types.items()):
            path, detail = items[0]
            print(f"  {target:<12} {kind:<24} {len(items):>5}  e.g. {path.name}: {detail[:100]}")
    else:
        print("findings: none")
    bad = sum(c[k] for c in counts.values() for k in ("raw", "hang", "memory", "crash"))
    return 1 if bad else 0


def print_table(counts: dict[str, collections.Counter], args) -> None:
    rows = [(target, counts[target]) for target in fuzzing.TARGETS]
    rows.append(("all", sum((c for _, c in rows), collections.Counter())))
    header = f"{'target':<12} {'inputs':>7} " + " ".join(f"{HEADINGS[k]:>8}" for k in COLUMNS)
    print(header)
    print("-" * len(header))
    for name, counter in rows:
        print(f"{name:<12} {sum(counter.values()):>7} " + " ".join(f"{counter[k]:>8}" for k in COLUMNS))
    print(f"(hangs: over {args.timeout:g} s; over mem: past RLIMIT_AS of {args.memory_gb:g} GB; "
          "crashes: a worker that died otherwise)")


def replay(path: Path, max_pixels: int | None) -> int:
    """Run one reproducer in this process and show what comes out."""
    target = next((t for t in sorted(fuzzing.TARGETS, key=len, reverse=True) if path.name.startswith(t + "-")), None)
    if target is None:
        print(f"{path.name}: the name does not start with a target ({', '.join(fuzzing.TARGETS)})", file=sys.stderr)
        return 2
    case = fuzzing.Case(-1, target, "replay", path.suffix, path.read_bytes())
    with tempfile.TemporaryDirectory() as folder:
        try:
            outcome = fuzzing.run_target(case, Path(folder), max_pixels)
        except Exception:
            traceback.print_exc()
            return 1
    print(f"{target}: {outcome.kind} {outcome.detail}".rstrip())
    return 0 if outcome.kind in ("ok", "clean") else 1


def main(argv: list[str] | None = None) -> int:
    from pixrescue.imaging.io import DEFAULT_MAX_PIXELS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=100_000, help="how many inputs (default 100000)")
    parser.add_argument("--seed", type=int, default=2024, help="the run's seed (default 2024, the test's)")
    parser.add_argument("--start", type=int, default=0, help="first input index (to split a run)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: CPUs)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per input (default 10)")
    parser.add_argument("--memory-gb", type=float, default=4.0, help="address space per worker (default 4)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help=f"load's pixel limit (default {DEFAULT_MAX_PIXELS:,}, the CLI's)")
    parser.add_argument("--out", help="folder for reproducers (default runs/fuzz-seed<SEED>)")
    parser.add_argument("--replay", type=Path, help="run one reproducer file here, with its traceback")
    args = parser.parse_args(argv)
    if args.replay:
        return replay(args.replay, args.max_pixels)
    if args.inputs < 1 or args.workers < 1:
        parser.error("--inputs and --workers must be at least 1")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
