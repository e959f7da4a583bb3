"""The JSON API of `pixrescue serve`, through FastAPI's TestClient."""

from __future__ import annotations

import io
import threading
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402
from helpers import chelsea, decode, jpeg_bytes, png_header_only  # noqa: E402

import pixrescue  # noqa: E402
from pixrescue.training.machine import usable_cores  # noqa: E402
from pixrescue.web.app import create_app  # noqa: E402
from pixrescue.web.jobs import JobQueue, Settings  # noqa: E402


def client_for(tmp_path, **settings) -> TestClient:
    return TestClient(create_app(Settings(folder=tmp_path, **{"workers": 1, **settings})))


def png(size=(48, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(
        buffer, format="PNG")
    return buffer.getvalue()


def wait(client, job_id, until=lambda s: s["status"] not in ("checking", "queued", "running"), timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        response = client.get(f"/api/jobs/{job_id}")
        if response.status_code != 200 or until(response.json()):
            return response
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {response.json()['status']} after {timeout} s")


def leftovers(client) -> list:
    return sorted(p.name for p in client.app.state.jobs.folder.rglob("*"))


@pytest.fixture
def stub(monkeypatch):
    """Jobs whose work is ``stub.work`` (by default: wait for ``stub.release``, then return the picture)."""
    release = threading.Event()

    def work(picture):
        release.wait(30)
        return picture

    holder = type("Stub", (), {"release": release, "work": staticmethod(work)})
    monkeypatch.setattr(JobQueue, "function", lambda self, options: holder.work)
    yield holder
    release.set()


def test_fix_submit_poll_fetch_equals_the_api(tmp_path):
    source = tmp_path / "cat.jpg"
    source.write_bytes(jpeg_bytes(chelsea(), 10))
    with client_for(tmp_path) as client:
        submitted = client.post("/api/jobs", files={"file": ("../../cat.jpg", source.read_bytes(), "image/jpeg")})
        assert submitted.status_code == 202, submitted.text
        job = submitted.json()
        assert job["status"] in ("queued", "running") and job["summary"]["jpeg_quality"] == 10
        done = wait(client, job["id"], until=lambda s: s["status"] == "failed" or s["facts"] is not None).json()
        assert done["status"] == "done", done
        assert done["download_name"] == "cat.fixed.png"
        assert done["facts"]["jpeg_quality"] == 10 and "source" not in done["facts"]
        assert done["summary"]["output_width"] == 451
        fetched = client.get(done["result"])
        assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
        # The same threads as the job's (one job running: every core): a runtime may
        # split its sums differently on another thread count, a level apart.
        pixrescue.set_threads(usable_cores())
        expected = np.asarray(pixrescue.restore(pixrescue.load(source)).image)
        assert np.array_equal(np.asarray(decode(fetched.content)), expected)
        archive = client.get("/api/results.zip", params={"ids": [job["id"]]})
        with zipfile.ZipFile(io.BytesIO(archive.content)) as opened:
            assert opened.namelist() == ["cat.fixed.png"]
            assert opened.read("cat.fixed.png") == fetched.content
        # The client's name reached no file: the server's folder holds only its own names.
        assert not any("cat" in name for name in leftovers(client))
        assert client.delete(f"/api/jobs/{job['id']}").status_code == 204
        assert client.get(f"/api/jobs/{job['id']}").status_code == 404
        assert leftovers(client) == []


def test_upscale_shrink_expand_and_inspect(tmp_path):
    with client_for(tmp_path) as client:
        bigger = client.post("/api/jobs", files={"file": ("a.png", png(), "image/png")},
                             data={"kind": "upscale", "scale": "3", "strength": ""}).json()
        looked = client.post("/api/jobs", files={"file": ("b.png", png(), "image/png")},
                             data={"kind": "inspect"}).json()
        bigger = wait(client, bigger["id"]).json()
        assert bigger["status"] == "done" and bigger["download_name"] == "a.x3.png"
        assert decode(client.get(bigger["result"]).content).size == (144, 96)
        looked = wait(client, looked["id"]).json()
        assert looked["status"] == "done" and looked["facts"]["width"] == 48 and looked["facts"]["jpeg_quality"] is None
        missing = client.get(f"/api/jobs/{looked['id']}/result")
        assert missing.status_code == 409 and "no result" in missing.json()["error"]
        small = client.post("/api/jobs", files={"file": ("c.png", png(), "image/png")}, data={"kind": "shrink"}).json()
        small = wait(client, small["id"]).json()
        assert small["download_name"] == "c.small2.png" and small["summary"]["output_width"] == 24
        shrunk = client.get(small["result"]).content
        full = client.post("/api/jobs", files={"file": ("c.small2.png", shrunk, "image/png")}, data={"kind": "expand"})
        full = wait(client, full.json()["id"]).json()
        assert full["status"] == "done" and full["download_name"] == "c.small2.expanded.png"
        assert decode(client.get(full["result"]).content).size == (48, 32)


@pytest.mark.parametrize("options, message", [
    ({"strength": "0"}, "strength"), ({"strength": "500"}, "strength"), ({"kind": "sharpen"}, "kind"),
    ({"kind": "shrink", "scale": "3"}, "scale"), ({"kind": "fix", "scale": "2"}, "scale"),
    ({"kind": "upscale", "strength": "20"}, "strength"), ({"scale": "two"}, "scale"),
])
def test_bad_options_are_422(tmp_path, options, message):
    with client_for(tmp_path) as client:
        response = client.post("/api/jobs", files={"file": ("a.png", png(), "image/png")}, data=options)
        assert response.status_code == 422
        assert response.json()["error"].startswith(message)
        assert leftovers(client) == []


def truncated() -> bytes:
    payload = jpeg_bytes(chelsea(), 50)
    return payload[: len(payload) // 3]


@pytest.mark.parametrize("payload, status, message", [
    (b"", 400, "empty file"),
    (b"just some text\n" * 20, 400, "not an image"),
    (truncated(), 400, "truncated"),
    (png_header_only(100_000, 100_000), 413, "too large"),
    (b"\xff" * 25_000, 413, "over the limit"),
])
def test_bad_uploads_get_a_json_error_and_leave_nothing(tmp_path, payload, status, message):
    with client_for(tmp_path, max_bytes=20_000) as client:
        response = client.post("/api/jobs", files={"file": ("x.jpg", payload, "image/jpeg")})
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
        assert message in response.json()["error"]
        assert leftovers(client) == []


def test_huge_content_length_claim_is_refused_before_reading(tmp_path):
    with client_for(tmp_path, max_bytes=4000) as client:
        response = client.post("/api/jobs", content=b"--x--\r\n", headers={
            "content-type": "multipart/form-data; boundary=x", "content-length": str(8 << 30)})
        assert response.status_code == 413 and "over the limit" in response.json()["error"]
        missing = client.post("/api/jobs", data={"kind": "fix"})
        assert missing.status_code == 422 and missing.json()["error"].startswith("file")
        assert leftovers(client) == []


def test_body_over_the_limit_without_length_is_413(tmp_path):
    with client_for(tmp_path, max_bytes=1000) as client:
        chunks = (b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n",
                  *[b"\0" * 40_000] * 4, b"\r\n--x--\r\n")
        response = client.post("/api/jobs", content=iter(chunks),
                               headers={"content-type": "multipart/form-data; boundary=x"})
        assert response.status_code == 413 and "over the limit" in response.json()["error"]
        assert leftovers(client) == []


def test_queue_full_is_429_and_the_time_limit_fails_a_job(tmp_path, stub):
    with client_for(tmp_path, queue=0, job_seconds=0.5) as client:
        first = client.post("/api/jobs", files={"file": ("a.png", png(), "image/png")})
        assert first.status_code == 202
        refused = client.post("/api/jobs", files={"file": ("b.png", png(), "image/png")})
        assert refused.status_code == 429 and "queue is full" in refused.json()["error"]
        assert refused.headers["retry-after"]
        late = wait(client, first.json()["id"]).json()
        assert late["status"] == "failed" and "longer than the limit" in late["error"]
        stub.release.set()
        assert client.get(f"/api/jobs/{first.json()['id']}/result").status_code == 409


def test_results_expire(tmp_path, stub):
    stub.release.set()
    with client_for(tmp_path, keep_seconds=0.3) as client:
        job = client.post("/api/jobs", files={"file": ("a.png", png(), "image/png")}).json()
        done = wait(client, job["id"]).json()
        assert done["status"] == "done" and client.get(done["result"]).status_code == 200
        assert leftovers(client)  # the result, until it expires
        gone = wait(client, job["id"], until=lambda s: False, timeout=10)
        assert gone.status_code == 404 and "kept for" in gone.json()["error"]
        assert leftovers(client) == []


def test_shutting_down_is_503_and_removes_every_file(tmp_path, stub):
    with client_for(tmp_path) as client:
        queue = client.app.state.jobs
        client.post("/api/jobs", files={"file": ("a.png", png(), "image/png")})
        waiting = client.post("/api/jobs", files={"file": ("b.png", png(), "image/png")}).json()
        stub.release.set()
        queue.close(wait=10)
        response = client.post("/api/jobs", files={"file": ("c.png", png(), "image/png")})
        assert response.status_code == 503 and "shutting down" in response.json()["error"]
        assert waiting["status"] == "queued"
        assert not queue.folder.exists()


def test_security_headers_on_every_response(tmp_path):
    with client_for(tmp_path) as client:
        for response in (client.get("/"), client.get("/static/app.js"), client.get("/api/limits"),
                         client.get("/api/jobs/" + "0" * 32), client.get("/no/such/page")):
            assert "default-src 'none'" in response.headers["content-security-policy"]
            assert "script-src 'self'" in response.headers["content-security-policy"]
            assert response.headers["x-content-type-options"] == "nosniff"
        page = client.get("/")
        assert page.headers["content-type"].startswith("text/html") and 'src="/static/app.js"' in page.text
        assert client.get("/api/jobs/" + "0" * 32).json() == {
            "error": f"no job {'0' * 32} (finished jobs are kept for 1800 s)"}


def test_auto_says_what_it_did_and_deblur_names_its_result(tmp_path):
    with client_for(tmp_path) as client:
        auto = client.post("/api/jobs", files={"file": ("m.jpg", jpeg_bytes(chelsea(), 10), "image/jpeg")},
                           data={"kind": "auto"}).json()
        sharp = client.post("/api/jobs", files={"file": ("s.png", png(), "image/png")}, data={"kind": "deblur"}).json()
        auto = wait(client, auto["id"]).json()
        assert auto["status"] == "done" and auto["summary"]["did"] == "fix" and auto["download_name"] == "m.fixed.png"
        sharp = wait(client, sharp["id"]).json()
        assert sharp["status"] == "done" and sharp["download_name"] == "s.sharp.png"
        assert decode(client.get(sharp["result"]).content).size == (48, 32)
