"""The FastAPI application behind ``pixrescue serve``: the page, the JSON API, the limits.

The API the page uses (documented at ``/api/openapi.json``): ``POST /api/jobs``
(a picture and the job's options) -> a job's status; ``GET /api/jobs/{id}``
polls it; ``GET /api/jobs/{id}/result`` fetches the PNG; ``GET
/api/results.zip?ids=...`` several at once; ``DELETE /api/jobs/{id}`` forgets
one.  Every error is ``{"error": "one line"}`` with its status code.
"""

from __future__ import annotations

import contextlib
import json
import zipfile
from importlib import resources
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, File, Form, HTTPException, Path, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException

from .jobs import KINDS, Job, JobError, JobQueue, Options, Settings

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
                               "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_ENCODED = [(key.lower().encode(), value.encode()) for key, value in HEADERS.items()]
# Seconds the running jobs get to finish when the server stops (then they are cancelled).
SHUTDOWN_WAIT = 10.0
# Room for the multipart framing and the option fields around the file.
_FORM_OVERHEAD = 64 * 1024
JOB_ID = Annotated[str, Path(pattern="^[0-9a-f]{32}$", description="The id POST /api/jobs returned.")]


def _jobs(request: Request) -> JobQueue:
    return request.app.state.jobs


Jobs = Annotated[JobQueue, Depends(_jobs)]


class Error(BaseModel):
    error: str


class Status(BaseModel):
    """A job as the page shows it."""

    id: str
    kind: Literal["fix", "auto", "deblur", "upscale", "shrink", "expand", "inspect"]
    strength: int | None = None
    scale: int | None = None
    status: Literal["checking", "queued", "running", "done", "failed", "cancelled"]
    position: int | None = None  # jobs waiting before this one
    error: str | None = None
    download_name: str
    summary: dict  # format, width, height, frames, jpeg_quality; output_width and output_height when done,
    # did: the steps an automatic fix ran, or why a job left the picture unchanged
    facts: dict | None = None  # pixrescue.inspect of the input (follows the result)
    result: str | None = None  # where the PNG is, once done
    expires_in: float | None = None  # seconds the result is still kept


class Limits(BaseModel):
    max_bytes: int
    max_pixels: int
    workers: int
    capacity: int
    job_seconds: float
    keep_seconds: float
    kinds: list[str]


ERRORS = {code: {"model": Error} for code in (400, 404, 409, 413, 422, 429, 503)}


def create_app(settings: Settings | None = None) -> FastAPI:
    """The application; each time it starts (its lifespan) it opens a job queue, closed with
    every file removed when it stops (``app.state.jobs``)."""
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        from starlette.concurrency import run_in_threadpool

        app.state.jobs = JobQueue(settings)
        try:
            yield
        finally:
            await run_in_threadpool(app.state.jobs.close, min(SHUTDOWN_WAIT, settings.job_seconds))

    app = FastAPI(title="pixrescue", summary="Rescue pictures: JPEG artifacts, upscaling, invertible shrinking.",
                  version=_version(), docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
                  lifespan=lifespan)
    app.add_middleware(_Limit, max_bytes=settings.max_bytes + _FORM_OVERHEAD)
    app.add_middleware(_Headers)
    app.mount("/static", StaticFiles(packages=[("pixrescue.web", "static")]), name="static")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ())[1:]) or "request"
        return _error(422, f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(JobError)
    async def refused(request: Request, exc: JobError):
        return _error(exc.status, str(exc), {"Retry-After": "5"} if exc.status in (429, 503) else None)

    @app.get("/", include_in_schema=False)
    def page():
        return Response(resources.files("pixrescue.web").joinpath("static/index.html").read_bytes(),
                        media_type="text/html; charset=utf-8")

    @app.get("/api/limits", response_model=Limits)
    def limits(jobs: Jobs) -> Limits:
        """What the server accepts."""
        s = jobs.settings
        return Limits(max_bytes=s.max_bytes, max_pixels=jobs.max_pixels, workers=s.workers, capacity=s.capacity,
                      job_seconds=s.job_seconds, keep_seconds=s.keep_seconds, kinds=list(KINDS))

    @app.post("/api/jobs", status_code=202, response_model=Status, responses=ERRORS)
    def submit(
        file: Annotated[UploadFile, File(description="The picture (JPEG, PNG, WebP, BMP, TIFF or GIF).")],
        jobs: Jobs,
        kind: Annotated[Literal["fix", "auto", "deblur", "upscale", "shrink", "expand", "inspect"], Form()] = "fix",
        strength: Annotated[int | None, Form(ge=1, le=100, description="fix: treat it as this JPEG quality.")] = None,
        scale: Annotated[int | None, Form(ge=2, le=4, description="upscale: 2, 3 or 4; shrink: 2 or 4.")] = None,
    ) -> Status:
        """Queue a job for one picture; poll the status it returns."""
        return _status(jobs, jobs.submit(file.file, Options(kind, strength, scale), file.filename))

    @app.get("/api/jobs/{job_id}", response_model=Status, responses=ERRORS)
    def status(job_id: JOB_ID, jobs: Jobs) -> Status:
        """A job's status (its result's address once done)."""
        return _status(jobs, _job(jobs, job_id))

    @app.get("/api/jobs/{job_id}/result", response_class=FileResponse, responses={
        200: {"content": {"image/png": {}}, "description": "The result, a PNG."}, **ERRORS})
    def result(job_id: JOB_ID, jobs: Jobs):
        """The result of a finished job, as PNG."""
        job = _job(jobs, job_id)
        if job.result is None:
            raise HTTPException(409, f"the job is {job.status}, it has no result" +
                                (f" ({job.error})" if job.error else ""))
        return FileResponse(job.result, media_type="image/png", filename=job.download_name)

    @app.delete("/api/jobs/{job_id}", status_code=204, responses=ERRORS)
    def forget(job_id: JOB_ID, jobs: Jobs) -> Response:
        """Cancel a job or delete its result."""
        jobs.cancel(_job(jobs, job_id))
        return Response(status_code=204)

    @app.get("/api/results.zip", response_class=FileResponse, responses={
        200: {"content": {"application/zip": {}}, "description": "The results, a ZIP file."}, **ERRORS})
    def results_zip(ids: Annotated[list[Annotated[str, Query(pattern="^[0-9a-f]{32}$")]],
                                   Query(min_length=1, max_length=200)], jobs: Jobs):
        """The results of several finished jobs in one ZIP file."""
        import tempfile

        found = [job for job in (jobs.get(i) for i in dict.fromkeys(ids)) if job is not None and job.result]
        if not found:
            raise HTTPException(404, "none of these jobs has a result (finished results are kept for "
                                f"{jobs.settings.keep_seconds:g} s)")
        handle, name = tempfile.mkstemp(suffix=".zip", dir=jobs.folder)
        try:
            with open(handle, "wb") as stream, zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED) as archive:
                for entry, job in zip(_unique([job.download_name for job in found]), found):
                    with contextlib.suppress(FileNotFoundError):  # expired meanwhile
                        archive.write(job.result, entry)
        except BaseException:
            _remove(name)
            raise
        return FileResponse(name, media_type="application/zip", filename="pixrescue-results.zip",
                            background=BackgroundTask(_remove, name))

    return app


def _job(jobs: JobQueue, job_id: str) -> Job:
    job = jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id} (finished jobs are kept for {jobs.settings.keep_seconds:g} s)")
    return job


def _status(jobs: JobQueue, job: Job) -> Status:
    expires = jobs.expires(job)
    if expires is not None:
        import time

        expires = round(max(0.0, expires - time.time()), 1)
    return Status(id=job.id, kind=job.options.kind, strength=job.options.strength, scale=job.options.scale,
                  status=job.status, position=jobs.position(job), error=job.error,
                  download_name=job.download_name, summary=job.summary, facts=job.facts,
                  result=f"/api/jobs/{job.id}/result" if job.result is not None else None, expires_in=expires)


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _unique(names: list[str]) -> list[str]:
    """``names`` with repeats told apart: a.fixed.png, a.fixed-2.png ..."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        stem, dot, ext = name.rpartition(".")
        out.append(name if seen[name] == 1 else f"{stem}-{seen[name]}{dot}{ext}")
    return out


def _remove(name: str) -> None:
    import os

    with contextlib.suppress(FileNotFoundError):
        os.unlink(name)


def _version() -> str:
    from .. import __version__

    return __version__


class _Headers:
    """Adds the security headers to every response."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {key.lower() for key, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in _ENCODED if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _TooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the upload is over the limit of {limit - _FORM_OVERHEAD:,} bytes")


class _Limit:
    """Refuses (413) a body over ``max_bytes``: at once when its Content-Length says so, else
    as soon as that many bytes have arrived (nothing more is read)."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None:
            try:
                claimed = int(length)
            except ValueError:
                claimed = -1
            if claimed < 0 or claimed > self.max_bytes:
                message = ("the upload is over the limit of " f"{self.max_bytes - _FORM_OVERHEAD:,} bytes"
                           if claimed > 0 else "bad Content-Length")
                return await _send_json(send, 413 if claimed > 0 else 400, message)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        await self.app(scope, counted, send)


async def _send_json(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def serve(host: str = "127.0.0.1", port: int = 8000, settings: Settings | None = None, announce=print) -> None:
    """Run the server in the foreground until Ctrl-C (running jobs get SHUTDOWN_WAIT seconds to
    finish, waiting ones are cancelled, every temporary file is removed)."""
    import uvicorn

    app = create_app(settings)
    shown = f"[{host}]" if ":" in host else host
    announce(f"pixrescue: serving http://{shown}:{port}/ (Ctrl-C stops)")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
    finally:  # also when the server stopped starting (the port taken): nothing is left behind
        if hasattr(app.state, "jobs"):
            app.state.jobs.close(wait=0)
