"""`pixrescue index`, `dupes` and `similar` on a folder the test builds."""

import json
import os
import sqlite3

import pytest
from click.testing import CliRunner
from PIL import Image
from skimage import data

from helpers import jpeg_bytes
from pixrescue.cli import main


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def folder(tmp_path, photo):
    root = tmp_path / "memes"
    (root / "sub").mkdir(parents=True)
    photo.save(root / "cat.png")  # the original, lossless
    small = photo.resize((photo.width // 2, photo.height // 2))
    (root / "sub" / "cat-small-q20.jpg").write_bytes(jpeg_bytes(small, 20))
    Image.fromarray(data.astronaut()).save(root / "astronaut.png")  # a different picture
    (root / "broken.jpg").write_bytes(b"not really a jpeg")
    return root


def paths_in_db(db):
    with sqlite3.connect(db) as connection:
        return sorted(os.path.basename(row[0]) for row in connection.execute("SELECT path FROM images"))


def test_copies_are_grouped_with_the_best_first_and_strangers_left_alone(folder):
    result = run("index", folder)
    assert result.exit_code == 1  # the broken file is reported
    assert "broken.jpg" in result.output and "3 added" in result.output
    result = run("dupes", folder, "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert len(found) == 1
    names = [os.path.basename(entry["path"]) for entry in found[0]]
    assert names == ["cat.png", "cat-small-q20.jpg"]
    assert found[0][0]["recommended"] and not found[0][1]["recommended"]
    assert found[0][1]["jpeg_quality"] == 20


def test_reindexing_follows_added_changed_and_deleted_files(folder, photo):
    run("index", folder)
    db = folder / ".pixrescue.db"
    assert paths_in_db(db) == ["astronaut.png", "cat-small-q20.jpg", "cat.png"]
    (folder / "astronaut.png").unlink()
    photo.rotate(180).save(folder / "new.png")
    changed = folder / "sub" / "cat-small-q20.jpg"
    changed.write_bytes(jpeg_bytes(Image.fromarray(data.coffee()), 50))
    result = run("index", folder)
    assert "1 added, 1 updated, 1 removed, 1 unchanged" in result.output
    assert paths_in_db(db) == ["cat-small-q20.jpg", "cat.png", "new.png"]
    assert "cat-small-q20" not in run("dupes", folder).output  # now a different picture


def test_move_to_moves_exactly_the_other_copies(folder, tmp_path):
    run("index", folder)
    result = run("dupes", folder, "--move-to", tmp_path / "aside")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "aside" / "sub" / "cat-small-q20.jpg").exists()
    assert not (folder / "sub" / "cat-small-q20.jpg").exists()
    assert (folder / "cat.png").exists() and (folder / "astronaut.png").exists()
    assert "cat-small-q20.jpg" not in paths_in_db(folder / ".pixrescue.db")


def test_csv_output_has_a_header_and_a_row_per_copy(folder):
    run("index", folder)
    lines = [l for l in run("dupes", folder, "--csv").stdout.splitlines() if "," in l]
    assert lines[0].startswith("group,rank,path")
    assert len(lines) == 3


def test_similar_ranks_the_copy_first(folder, photo, tmp_path):
    run("index", folder)
    query = tmp_path / "query.jpg"
    query.write_bytes(jpeg_bytes(photo, 40))
    result = run("similar", query, "--db", folder / ".pixrescue.db", "-k", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].split()[1].endswith(("cat.png", "cat-small-q20.jpg"))
    assert float(lines[0].split()[0]) <= 1.0  # combined: within the duplicate threshold


def test_dupes_without_a_catalog_is_a_clear_error(tmp_path):
    result = run("dupes", tmp_path)
    assert result.exit_code == 2 and "pixrescue index" in result.output
