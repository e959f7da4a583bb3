"""`--engine ray`: the same outputs, failures and catalogue as one process,
on a small Ray cluster that the tests start on this machine."""

import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from skimage import data

from helpers import jpeg_bytes
from pixrescue import batch, cluster, restorer
from pixrescue.cli import main

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'pixrescue[cluster]')")


@pytest.fixture(scope="module")
def local_cluster():
    try:
        cluster.start(num_cpus=2, object_store_memory=80 * 2**20)
    except cluster.EngineError as exc:
        pytest.skip(f"Ray cannot start here: {exc}")
    yield
    ray.shutdown()


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


@pytest.fixture
def photos(tmp_path, photo):
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    pictures = [photo, Image.fromarray(data.astronaut()), Image.fromarray(data.coffee()), Image.fromarray(data.camera())]
    for i, image in enumerate(pictures):
        small = image.resize((image.width // 4, image.height // 4))
        (root / ("sub" if i % 2 else "") / f"p{i}.jpg").write_bytes(jpeg_bytes(small, 15))
    (root / "sub" / "p0-copy.jpg").write_bytes(jpeg_bytes(photo.resize((photo.width // 5, photo.height // 5)), 30))
    (root / "broken.jpg").write_bytes(b"not really a jpeg")
    return root


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_fix_on_ray_writes_what_one_process_writes(local_cluster, photos, tmp_path):
    one = cli("fix", photos, "-r", "-o", tmp_path / "one", "--threads", "1")
    on_ray = cli("fix", photos, "-r", "-o", tmp_path / "ray", "--engine", "ray")
    assert one.exit_code == on_ray.exit_code == 1  # the broken file, reported by both
    summary = [line for line in on_ray.output.splitlines() if line.startswith(("fixed", "  failed"))]
    assert summary == [line for line in one.output.splitlines() if line.startswith(("fixed", "  failed"))]
    assert summary[0] == "fixed 5 images, 1 failed" and "broken.jpg" in summary[1]
    written = outputs(tmp_path / "ray")
    assert sorted(written) == ["p0.png", "p2.png", "sub/p0-copy.png", "sub/p1.png", "sub/p3.png"]
    assert written == outputs(tmp_path / "one")


def test_a_stopped_ray_run_resumes_without_redoing_finished_files(local_cluster, photos, tmp_path):
    jobs = batch.plan([photos], tmp_path / "out", True, ".fixed", ".png")
    first = [job for job in jobs if job.source.name in ("p0.jpg", "p1.jpg")]
    cluster.run(first, restorer, workers=1)  # the run stopped after these two
    (tmp_path / "out" / ".pxr-killed.part").write_bytes(b"a write cut short")  # and in the middle of a third
    before = {job.target: job.target.stat().st_mtime_ns for job in first}
    result = cli("fix", photos, "-r", "-o", tmp_path / "out", "--engine", "ray", "--skip-existing")
    assert "fixed 3 images, 2 skipped, 1 failed" in result.output
    assert {target: target.stat().st_mtime_ns for target in before} == before
    assert all(job.target.exists() for job in jobs if job.source.name != "broken.jpg")


def test_index_on_ray_fills_the_catalogue_as_one_process_does(local_cluster, photos, tmp_path):
    one, on_ray = tmp_path / "one.db", tmp_path / "ray.db"
    assert cli("index", photos, "--db", one).exit_code == 1
    result = cli("index", photos, "--db", on_ray, "--engine", "ray")
    assert result.exit_code == 1 and "5 added, 0 updated, 0 removed, 0 unchanged, 1 failed" in result.output

    def rows(db):
        with sqlite3.connect(db) as connection:
            return connection.execute("SELECT * FROM images ORDER BY path").fetchall()

    assert rows(on_ray) == rows(one) and len(rows(one)) == 5
    assert not list((tmp_path / "ray.db.shards").glob("*.shard"))
    assert cli("dupes", photos, "--db", on_ray, "--json").stdout == cli("dupes", photos, "--db", one, "--json").stdout
    os.remove(photos / "p2.jpg")
    again = cli("index", photos, "--db", on_ray, "--engine", "ray")
    assert "0 added, 0 updated, 1 removed, 4 unchanged, 1 failed" in again.output
