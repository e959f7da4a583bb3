"""Batch jobs on Ray: ``fix``, ``upscale`` and ``index`` with ``--engine ray``.

The same code runs on this machine (``ray.init()`` starts a local cluster)
and on a cluster (``address``: an existing one's, as ``ray start`` prints
it).  The jobs are planned as in one process (``batch.plan``: the same
outputs); Ray Data spreads them over an actor pool, each actor builds the
API's per-picture function once (its network loaded once) and runs
``batch.run_job`` on the files it is given: the loader, the function, the
atomic writer, and a failure of one file reported, not raised.  ``index``
workers write catalogue shards that one step merges (``collection/shards.py``).
Every machine must see the files under the same paths (a shared folder).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import numpy as np

from . import batch, runner
from .runner import set_device, set_precision
from .collection import catalog, shards
from .imaging import Picture


class EngineError(Exception):
    """Ray is missing or cannot start; one line for the user."""


def start(address: str | None = None, num_cpus: int | None = None, object_store_memory: int | None = None) -> None:
    """Connect to the cluster at ``address``, or start one on this machine
    (``num_cpus``, ``object_store_memory`` bytes: its limits); nothing if
    this process is connected already."""
    try:
        import ray
    except ImportError:
        raise EngineError("--engine ray needs Ray: pip install 'pixrescue[cluster]'") from None
    if ray.is_initialized():
        return
    try:
        if address:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR")
        else:
            # "local": a new cluster, never one that another command left behind
            ray.init(address="local", num_cpus=num_cpus, object_store_memory=object_store_memory,
                     include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    except Exception as exc:  # ConnectionError, RuntimeError, ...: one line
        raise EngineError(f"Ray could not start{f' at {address}' if address else ''}: "
                          f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def _pool_size(workers: int | None, jobs: int) -> int:
    import ray

    cpus = int(ray.available_resources().get("CPU", ray.cluster_resources().get("CPU", 1)))
    return max(1, min(workers or cpus, jobs))


def _table(rows: list[dict], worker: type, workers: int | None, **arguments) -> list[dict]:
    """``worker``'s answers for ``rows``: one actor per CPU (or ``workers``),
    one row at a time (a picture is a task; a batch of one keeps all busy)."""
    import ray

    if not rows:
        return []
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.enable_operator_progress_bars = False
    context.print_on_execution_start = False
    dataset = ray.data.from_items([{"index": i, **row} for i, row in enumerate(rows)], override_num_blocks=len(rows))
    answers = dataset.map_batches(worker, fn_constructor_kwargs=arguments, batch_size=1, num_cpus=1,
                                  compute=ray.data.ActorPoolStrategy(size=_pool_size(workers, len(rows))))
    return sorted(answers.iter_rows(), key=lambda row: row["index"])


def _one_thread() -> None:
    # One CPU per actor: torch's threads beyond it only fight the other actors.
    from . import set_threads

    set_threads(1)


class _Images:
    """An actor of ``run``: the per-picture function built once, a job per row."""

    def __init__(self, factory: Callable[[], Callable[[Picture], Picture]], options: dict, precision: str,
                 device: str = "auto") -> None:
        _one_thread()
        set_precision(precision)  # the caller's choices (--precision, --device), which an actor's process does not inherit
        try:
            set_device(device)
        except runner.DeviceError:  # --device cuda, on a node without a GPU: its CPU
            set_device("cpu")
        self.process = factory()
        self.options = options

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        answers = [batch.run_job(batch.Job(Path(source), Path(target)), self.process, **self.options)
                   for source, target in zip(rows["source"], rows["target"])]
        return {"index": rows["index"], "kind": np.array([kind for kind, _ in answers]),
                "message": np.array([message for _, message in answers])}


def run(jobs: list[batch.Job], factory: Callable[[], Callable[[Picture], Picture]], *, address: str | None = None,
        workers: int | None = None, report: Callable[[str], None] | None = None, **options) -> batch.Outcome:
    """``batch.run`` on Ray: ``factory()`` (for example
    ``functools.partial(pixrescue.restorer, model)``) builds the per-picture
    function in each actor; ``options`` are ``batch.run_job``'s."""
    start(address)
    say = report or (lambda message: print(message, file=sys.stderr))
    outcome = batch.Outcome()
    answers = _table([{"source": str(job.source), "target": str(job.target)} for job in jobs], _Images, workers,
                     factory=factory, options=options, precision=runner.current_precision(),
                     device=runner.current_device_choice())
    for job, answer in zip(jobs, answers):
        outcome.add(job, str(answer["kind"]), str(answer["message"]))
        if answer["kind"] == "failed":
            say(f"error: {job.source}: {answer['message']}")
    return outcome


class _Fingerprints:
    """An actor of ``index``: fingerprints of its files, written as one shard per batch."""

    def __init__(self, shard_folder: str, rotations: bool) -> None:
        _one_thread()
        self.folder = Path(shard_folder)
        self.rotations = rotations

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        found, messages = [], []
        items = [(Path(path), str(key), None) for path, key in zip(rows["path"], rows["key"])]
        for outcomes in catalog.fingerprint_files(items, self.rotations, threads=1):
            for outcome in outcomes:  # one file's failure is not the run's
                if outcome.row is not None:
                    found.append(outcome.row)
                messages.append(outcome.error or "")
        shards.write(self.folder, found)
        return {"index": rows["index"], "message": np.array(messages)}


def index(folder: Path, db: Path | None = None, rotations: bool = False, rebuild: bool = False,
          address: str | None = None, workers: int | None = None,
          report: Callable[[str], None] | None = None) -> catalog.UpdateReport:
    """``pixrescue.index`` on Ray: new and changed files fingerprinted by the
    actors into shards, merged into the catalogue; files gone are forgotten."""
    start(address)
    say = report or (lambda message: print(message, file=sys.stderr))
    root = folder.resolve()
    db_path = db or catalog.default_db(root)
    result = catalog.UpdateReport()
    result.aside = catalog.rebuild(db_path) if rebuild else None
    shards.merge(db_path)  # what a stopped run left
    files = catalog.scan(root)
    with catalog._guard(db_path):
        connection = catalog.connect(db_path, rebuild=True)
        try:
            known = catalog.known_files(connection)
            connection.execute("INSERT OR REPLACE INTO meta VALUES ('root', ?)", (str(root),))
            connection.commit()
        finally:
            connection.close()
    todo = []
    for path in files:
        key = path.relative_to(root).as_posix()
        try:
            stat = path.stat()
            unchanged = known.get(key) == (stat.st_size, stat.st_mtime_ns, int(rotations))
        except OSError:
            unchanged = False  # the worker reports it
        if unchanged:
            result.unchanged += 1
        else:
            todo.append({"path": str(path), "key": key})
    answers = _table(todo, _Fingerprints, workers, shard_folder=str(shards.folder_of(db_path)), rotations=rotations)
    shards.merge(db_path)
    for row, answer in zip(todo, answers):
        if answer["message"]:
            result.failed.append((Path(row["path"]), str(answer["message"])))
            say(f"error: {row['path']}: {answer['message']}")
        elif row["key"] in known:
            result.updated += 1
        else:
            result.added += 1
    present = {path.relative_to(root).as_posix() for path in files}
    gone = [key for key in known if key not in present]
    catalog.forget(db_path, gone)
    result.removed = len(gone)
    return result
