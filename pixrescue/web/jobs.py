"""The web server's jobs: a bounded queue, a pool of worker threads, results that expire.

Threads, not processes: one copy of each network serves every job (a process
per worker would hold its own, and the memory bound is per server), torch
releases the GIL inside its kernels so two threads keep two cores busy, and
pictures need no pickling.  The price is that a thread cannot be killed: a job
past its time limit is reported failed at once and its result thrown away,
but its thread finishes the computation (bounded by the pixel limit) before
it takes the next job.

Every upload lives in its own folder, named by the server, inside one private
temporary folder (mode 700) that :meth:`JobQueue.close` removes; the client's
file name is kept only as text, for download names.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable

from ..training.machine import usable_cores

KINDS = ("fix", "auto", "deblur", "upscale", "shrink", "expand", "inspect")
SCALES = {"upscale": (2, 3, 4), "shrink": (2, 4)}
# What each job adds to the picture's name when it is downloaded (as the CLI names its outputs).
SUFFIXES = {"fix": "fixed", "auto": "fixed", "deblur": "sharp", "upscale": "x{scale}", "shrink": "small{scale}", "expand": "expanded"}
RESULT = "result.png"
_UPLOAD = "upload"


@dataclass(frozen=True)
class Settings:
    """The server's limits."""

    max_bytes: int = 50 * 1024 * 1024  # largest upload
    max_pixels: int | None = None  # largest picture read or written (None: the CLI's default)
    workers: int = field(default_factory=usable_cores)  # jobs running at once
    queue: int | None = None  # jobs waiting beyond those running (None: 4 per worker)
    job_seconds: float = 300.0  # a running job's time limit
    keep_seconds: float = 1800.0  # how long a finished job and its result are kept
    folder: Path | None = None  # where the private temporary folder is made (None: the system's)

    @property
    def capacity(self) -> int:
        """Jobs queued or running at most."""
        return self.workers + (4 * self.workers if self.queue is None else self.queue)


class JobError(Exception):
    """A request the queue refuses, with its HTTP status code: 400 a bad image, 413 too
    large, 422 a bad option, 429 the queue is full, 503 shutting down."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Options:
    """What to do with a picture."""

    kind: str = "fix"
    strength: int | None = None  # fix: treat the picture as this JPEG quality
    scale: int | None = None  # upscale: 2, 3, 4; shrink: 2, 4

    def checked(self) -> Options:
        """These options with the scale's default filled in; JobError (422) when they cannot apply."""
        if self.kind not in KINDS:
            raise JobError(f"kind: one of {', '.join(KINDS)}, not {self.kind!r}", 422)
        if self.strength is not None and (self.kind != "fix" or not 1 <= self.strength <= 100):
            raise JobError("strength: a JPEG quality from 1 to 100, for fix only", 422)
        if self.kind not in SCALES:
            if self.scale is not None:
                raise JobError(f"scale: applies to upscale and shrink, not {self.kind}", 422)
            return self
        scale = self.scale or 2
        if scale not in SCALES[self.kind]:
            allowed = " or ".join(map(str, SCALES[self.kind]))
            raise JobError(f"scale: {self.kind} takes {allowed}, not {scale}", 422)
        return Options(self.kind, self.strength, scale)


@dataclass
class Job:
    id: str
    options: Options
    name: str  # the client's file name made safe, for download names only
    folder: Path
    created: float = field(default_factory=time.time)
    status: str = "queued"  # queued, running, done, failed, cancelled
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    summary: dict = field(default_factory=dict)  # the input and output sizes, JPEG quality
    facts: dict | None = None  # pixrescue.inspect of the input
    result: Path | None = None

    @property
    def download_name(self) -> str:
        suffix = SUFFIXES.get(self.options.kind, "").format(scale=self.options.scale)
        return f"{self.name}.{suffix}.png"


def safe_name(name: str | None) -> str:
    """The stem of a client's file name reduced to letters, digits, '.', '-' and '_'."""
    stem = PurePosixPath((name or "").replace("\\", "/")).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:80] or "picture"


class JobQueue:
    """Accepts uploads, runs them on ``settings.workers`` threads, keeps results for a while."""

    def __init__(self, settings: Settings | None = None) -> None:
        from .. import _pixel_limit

        self.settings = settings or Settings()
        self.max_pixels = _pixel_limit(self.settings.max_pixels)
        self.folder = Path(tempfile.mkdtemp(prefix="pixrescue-web-", dir=self.settings.folder))
        self.folder.chmod(0o700)
        self._jobs: dict[str, Job] = {}
        self._waiting: list[Job] = []
        self._running = 0
        self._closing = False
        self._lock = threading.Condition(threading.RLock())
        self._functions: dict[Options, Callable] = {}
        self._function_lock = threading.Lock()
        self._threads = [threading.Thread(target=self._work, name=f"pixrescue-job-{n}", daemon=True)
                         for n in range(self.settings.workers)]
        self._threads.append(threading.Thread(target=self._watch, name="pixrescue-expiry", daemon=True))
        for thread in self._threads:
            thread.start()

    # Submitting

    def submit(self, upload: BinaryIO, options: Options, name: str | None = None) -> Job:
        """Queue a job for the picture in ``upload`` (a file object, read from its start).
        JobError 422 (a bad option), 429 (full), 503 (closing) before the upload is copied; 413
        (too large) and 400 (not an image) once the project's loader has read it (nothing is kept then)."""
        from ..imaging.io import ImageLoadError, ImageTooLargeError, load

        options = options.checked()
        self.function(options)
        job = Job(uuid.uuid4().hex, options, safe_name(name), self.folder / uuid.uuid4().hex)
        with self._lock:
            self._refuse_when_full()
            self._jobs[job.id] = job  # holds its place while the upload is checked
            job.status = "checking"
        try:
            job.folder.mkdir(mode=0o700)
            path = job.folder / _UPLOAD
            with open(path, "wb") as out:
                copied = _copy(upload, out, self.settings.max_bytes)
            if copied > self.settings.max_bytes:
                raise JobError(f"the file is over the limit of {self.settings.max_bytes:,} bytes", 413)
            picture = load(path, max_pixels=self.max_pixels, history=False)
        except ImageTooLargeError as exc:
            self._forget(job)
            raise JobError(str(exc), 413) from None
        except ImageLoadError as exc:
            self._forget(job)
            raise JobError(str(exc), 400) from None
        except BaseException:
            self._forget(job)
            raise
        job.summary = {"format": picture.format, "width": picture.size[0], "height": picture.size[1],
                       "frames": len(picture.frames),
                       "jpeg_quality": picture.jpeg.quality if picture.jpeg is not None else None}
        with self._lock:
            if self._closing:
                self._forget(job)
                raise JobError("the server is shutting down", 503)
            job.status = "queued"
            self._waiting.append(job)
            self._lock.notify_all()
        return job

    def _refuse_when_full(self) -> None:
        if self._closing:
            raise JobError("the server is shutting down", 503)
        busy = sum(job.status in ("checking", "queued", "running") for job in self._jobs.values())
        if busy >= self.settings.capacity:
            raise JobError(f"the queue is full ({busy} pictures waiting or running): try again in a moment", 429)

    def function(self, options: Options) -> Callable:
        """The API's per-picture function for ``options``, made (and its model loaded) once."""
        import pixrescue

        with self._function_lock:
            if options not in self._functions:
                limit = self.max_pixels
                makers = {
                    "fix": lambda: pixrescue.restorer(strength=options.strength),
                    "auto": lambda: pixrescue.autofixer(max_pixels=limit),
                    "deblur": lambda: pixrescue.deblurrer(),
                    "upscale": lambda: pixrescue.upscaler(options.scale, max_pixels=limit),
                    "shrink": lambda: pixrescue.shrinker(options.scale),
                    "expand": lambda: pixrescue.expander(max_pixels=limit),
                    "inspect": lambda: pixrescue.inspect,
                }
                try:
                    self._functions[options] = makers[options.kind]()
                except ValueError as exc:
                    raise JobError(str(exc), 422) from None
            return self._functions[options]

    # Looking up

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def position(self, job: Job) -> int | None:
        """How many jobs wait before ``job`` (None when it is not waiting)."""
        with self._lock:
            return self._waiting.index(job) if job in self._waiting else None

    def expires(self, job: Job) -> float | None:
        return None if job.finished is None else job.finished + self.settings.keep_seconds

    def cancel(self, job: Job) -> None:
        """Forget ``job``: a waiting one never runs, a running one's result is thrown away."""
        with self._lock:
            if job in self._waiting:
                self._waiting.remove(job)
            if job.status in ("queued", "running"):
                job.status, job.error = "cancelled", "cancelled"
            self._forget(job)

    # Running

    def _work(self) -> None:
        from .. import set_threads

        while True:
            with self._lock:
                while not self._waiting and not self._closing:
                    self._lock.wait()
                if self._closing:
                    return
                job = self._waiting.pop(0)
                job.status, job.started = "running", time.time()
                self._running += 1
                running = self._running
            try:
                set_threads(max(1, usable_cores() // running))  # this thread's torch threads
                self._run(job)
            finally:
                with self._lock:
                    self._running -= 1

    def _run(self, job: Job) -> None:
        import pixrescue
        from ..batch import failure
        from ..imaging.io import load, save

        try:
            picture = load(job.folder / _UPLOAD, max_pixels=self.max_pixels)
            if job.options.kind == "inspect":
                self._finish(job, facts=_facts(pixrescue.inspect(picture)))
                return
            output = self.function(job.options)(picture)
            path = save(output, job.folder / RESULT)
            self._finish(job, result=path, output=output.size, did=output.steps or output.unchanged)
        except Exception as exc:  # reported in the job's status, one line
            self._finish(job, error=failure(exc))
            return
        if job.status == "done":  # the facts follow the result
            try:
                job.facts = _facts(pixrescue.inspect(picture))
            except Exception as exc:
                job.facts = {"error": failure(exc)}

    def _finish(self, job: Job, *, result: Path | None = None, output=None, facts=None, error=None,
                did: str | None = None) -> None:
        with self._lock:
            if job.status != "running":  # timed out or cancelled meanwhile: nothing is kept
                if result is not None:
                    result.unlink(missing_ok=True)
                return
            job.finished = time.time()
            if error is not None:
                job.status, job.error = "failed", error
            else:
                job.status, job.result, job.facts = "done", result, facts
                if output is not None:
                    job.summary = {**job.summary, "output_width": output[0], "output_height": output[1]}
                if did is not None:  # fix --auto's steps, or why a job left the picture as it was
                    job.summary = {**job.summary, "did": did}
            (job.folder / _UPLOAD).unlink(missing_ok=True)

    def _watch(self) -> None:
        """Fail jobs past their time limit, delete finished ones past their keeping time."""
        while True:
            with self._lock:
                if self._closing:
                    return
                now = time.time()
                for job in list(self._jobs.values()):
                    if job.status == "running" and now - job.started > self.settings.job_seconds:
                        job.status, job.finished = "failed", now
                        job.error = f"took longer than the limit of {self.settings.job_seconds:g} s"
                        shutil.rmtree(job.folder, ignore_errors=True)
                    elif job.finished is not None and now > job.finished + self.settings.keep_seconds:
                        self._forget(job)
                self._lock.wait(min(0.5, self.settings.keep_seconds, self.settings.job_seconds))

    def _forget(self, job: Job) -> None:
        """Drop ``job`` and its files."""
        with self._lock:  # re-entrant
            self._jobs.pop(job.id, None)
            shutil.rmtree(job.folder, ignore_errors=True)

    # Stopping

    @property
    def closing(self) -> bool:
        return self._closing

    def close(self, wait: float | None = None) -> None:
        """Refuse new jobs, cancel the waiting ones, give the running ones up to ``wait``
        seconds (default: the job time limit) and remove every file."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            for job in self._waiting:
                job.status, job.error = "cancelled", "the server stopped"
            self._waiting.clear()
            self._lock.notify_all()
        deadline = time.time() + (self.settings.job_seconds if wait is None else wait)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.time()))
        with self._lock:
            for job in self._jobs.values():
                if job.status == "running":
                    job.status, job.error = "cancelled", "the server stopped"
            self._jobs.clear()
        shutil.rmtree(self.folder, ignore_errors=True)


def _copy(source: BinaryIO, target: BinaryIO, limit: int) -> int:
    """Copy ``source`` into ``target``, stopping one byte past ``limit``; the bytes copied."""
    source.seek(0)
    copied = 0
    while copied <= limit:
        block = source.read(min(1 << 20, limit + 1 - copied))
        if not block:
            break
        target.write(block)
        copied += len(block)
    return copied


def _facts(inspection) -> dict:
    """An Inspection as JSON-ready values, without the server's file name."""
    facts = asdict(inspection)
    facts.pop("source", None)
    return {key: list(value) if isinstance(value, tuple) else value for key, value in facts.items()}
