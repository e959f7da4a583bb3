"""`index` reads JPEGs reduced and runs its networks on batches of files:
the catalogue holds the same rows whatever the batch, the files' true sizes,
and a failure stays the failing file's."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps
from skimage import data

from pixrescue.collection import catalog, fingerprints
from pixrescue.imaging import load

ORIENTATION = 0x0112


@pytest.fixture(autouse=True)
def one_thread():
    """The networks on one thread, as index runs them by default (many small calls on several
    threads of a busy machine wait on each other: these tests took 50 s instead of 15)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def folder(tmp_path, photo) -> Path:
    """Eleven pictures of every kind index meets: large JPEGs (read reduced), a
    turned one, small ones, PNGs with and without alpha, grayscale, a GIF."""
    root = tmp_path / "pictures"
    (root / "sub").mkdir(parents=True)
    astronaut = Image.fromarray(data.astronaut())
    photo.resize((1800, 1200), Image.BICUBIC).save(root / "cat-large.jpg", quality=85)
    photo.resize((3000, 2000), Image.BICUBIC).save(root / "sub" / "cat-huge.jpg", quality=70)
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    astronaut.resize((2000, 1200)).save(root / "astronaut-turned.jpg", quality=90, exif=exif)
    photo.save(root / "cat.jpg", quality=40)
    photo.save(root / "cat.png")
    ImageOps.mirror(photo).save(root / "cat-mirror.png")
    astronaut.save(root / "astronaut.png")
    rgba = astronaut.convert("RGBA")
    rgba.putalpha(128)
    rgba.save(root / "sub" / "astronaut-alpha.png")
    Image.fromarray(data.camera()).save(root / "camera.jpg", quality=60)
    Image.fromarray(data.camera()).resize((1500, 1500)).save(root / "camera-large.jpg", quality=80)
    photo.convert("P").save(root / "cat.gif")
    return root


def rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        found = connection.execute("SELECT * FROM images ORDER BY path").fetchall()
    connection.close()
    return found


@pytest.mark.parametrize("rotations", [False, True])
def test_the_rows_are_the_same_whatever_the_batch(folder, tmp_path, monkeypatch, rotations):
    by_batch = {}
    for batch in (1, 3, 32):
        monkeypatch.setattr(catalog, "BATCH", batch)
        db = tmp_path / f"{batch}.db"
        report = catalog.update(folder, db, rotations=rotations)
        assert report.added == 11 and not report.failed
        by_batch[batch] = rows(db)
    assert by_batch[1] == by_batch[3] == by_batch[32]
    # and the same as each file fingerprinted alone, or its picture through the API's functions
    alone = sorted(catalog.fingerprint_file(path, path.relative_to(folder).as_posix(), rotations)
                   for path in catalog.scan(folder))
    assert [row[:1] + row[3:] for row in alone] == [row[:1] + row[3:] for row in by_batch[32]]
    picture = load(folder / "cat-large.jpg", history=False, draft_side=fingerprints.WORKING_SIDE)
    record = catalog.record_of(picture, folder / "cat-large.jpg", 0, rotations)
    vectors = fingerprints.embeddings(picture.image, rotations)
    for name in fingerprints.EMBEDDINGS:
        assert np.array_equal(record.embeddings[name], vectors[name])
    assert record.hashes == fingerprints.perceptual_hashes(picture.image, rotations)


def test_embeddings_do_not_depend_on_the_other_thumbnails(photo):
    import torch

    thumbnails = torch.stack([fingerprints.thumbnail(photo.rotate(angle)) for angle in range(0, 50, 5)])
    together = fingerprints.embed(thumbnails)
    for i in range(len(thumbnails)):
        alone = fingerprints.embed(thumbnails[i:i + 1])
        for name in fingerprints.EMBEDDINGS:
            assert np.array_equal(alone[name][0], together[name][i])


def test_the_catalogue_records_true_sizes_and_qualities(folder, tmp_path):
    catalog.update(folder, tmp_path / "c.db")
    found = {record.key: record for record in catalog.records(tmp_path / "c.db", folder)}
    assert (found["cat-large.jpg"].width, found["cat-large.jpg"].height) == (1800, 1200)
    assert (found["sub/cat-huge.jpg"].width, found["sub/cat-huge.jpg"].height) == (3000, 2000)
    assert (found["astronaut-turned.jpg"].width, found["astronaut-turned.jpg"].height) == (1200, 2000)  # upright
    assert (found["camera-large.jpg"].width, found["camera-large.jpg"].height) == (1500, 1500)
    assert found["cat-large.jpg"].jpeg_quality == 85 and found["sub/cat-huge.jpg"].jpeg_quality == 70
    assert found["cat.png"].jpeg_quality is None and found["cat.png"].format == "PNG"


def test_a_large_jpeg_read_reduced_still_matches_its_copies(folder, tmp_path):
    catalog.update(folder, tmp_path / "c.db")
    found = {record.key: record for record in catalog.records(tmp_path / "c.db", folder)}
    for copy in ("cat-large.jpg", "sub/cat-huge.jpg", "cat.jpg"):
        for name in fingerprints.METHODS:
            assert fingerprints.hamming(found["cat.png"].hashes[name][0], found[copy].hashes[name][0]) <= 6, (copy, name)
        cosine = float(found["cat.png"].embeddings["cnn"][0] @ found[copy].embeddings["cnn"][0])
        assert cosine > 0.95, copy


def test_one_file_whose_networks_fail_fails_alone(folder, tmp_path, monkeypatch):
    """The networks run on a whole batch; should they raise, each file is tried alone."""
    real = catalog.embed

    def embed(batch):
        if any(float(t.mean()) > 0.99 for t in batch):  # the white picture
            raise RuntimeError("a network failed")
        return real(batch)

    Image.new("RGB", (300, 200), "white").save(folder / "white.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a JPEG after all")
    monkeypatch.setattr(catalog, "embed", embed)
    monkeypatch.setattr(catalog, "BATCH", 4)
    seen = []
    report = catalog.update(folder, tmp_path / "c.db", on_file=seen.append)
    assert sorted(path.name for path, _ in report.failed) == ["broken.jpg", "white.png"]
    assert "RuntimeError: a network failed" in dict((p.name, m) for p, m in report.failed)["white.png"]
    assert report.added == 11 and sorted(seen) == sorted(catalog.scan(folder))
    again = catalog.update(folder, tmp_path / "c.db")
    assert again.unchanged == 11 and len(again.failed) == 2
