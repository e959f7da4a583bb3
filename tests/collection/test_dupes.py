"""`pixrescue index`, `dupes` and `similar` on a folder the test builds."""

import json
import os
import sqlite3

import pytest
from click.testing import CliRunner
from PIL import Image
from skimage import data

import pixrescue
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


class Stopped(Exception):
    pass


def test_dupes_prints_each_group_before_the_next_is_ranked(folder, monkeypatch):
    (folder / "astronaut-q30.jpg").write_bytes(jpeg_bytes(Image.fromarray(data.astronaut()), 30))
    run("index", folder)
    whole = pixrescue.dupes(folder)
    assert len(whole) == 2
    listed = json.loads(run("dupes", folder, "--json").stdout)
    assert [[e["path"] for e in g] for g in listed] == [[str(c.path) for c in g] for g in whole]
    csv_rows = [l.split(",") for l in run("dupes", folder, "--csv").stdout.splitlines()[1:]]
    assert [(int(r[0]), r[2]) for r in csv_rows] == [(n, str(c.path)) for n, g in enumerate(whole, 1) for c in g]
    alone = folder.parent / "alone"
    alone.mkdir()
    Image.fromarray(data.astronaut()).save(alone / "astronaut.png")
    run("index", alone)
    assert json.loads(run("dupes", alone, "--json").stdout) == []  # no group: still a list

    from pixrescue.collection import folder as collection

    def first_then_stop(*args):  # the second group never comes: what was printed is the first
        yield whole[0]
        raise Stopped()

    monkeypatch.setattr(collection, "each_dupe_group", first_then_stop)
    for option, shown in (("--json", f'"path": "{whole[0][0].path}"'), ("--csv", f"1,0,{whole[0][0].path}"),
                          ("--threshold", f"{whole[0][0].path}")):
        result = CliRunner().invoke(main, ["dupes", str(folder), option, *(["1"] if option == "--threshold" else [])])
        assert isinstance(result.exception, Stopped)
        assert shown in result.stdout and str(whole[1][0].path) not in result.stdout


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


# The same through the Python API: plain data back.

def test_the_api_indexes_groups_moves_and_searches(folder, photo, tmp_path):
    report = pixrescue.index(str(folder))
    assert (report.added, [path.name for path, _ in report.failed]) == (3, ["broken.jpg"])
    groups = pixrescue.dupes(folder)
    assert [[copy.path.name for copy in group] for group in groups] == [["cat.png", "cat-small-q20.jpg"]]
    keep, copy = groups[0]
    assert keep.distance == 0 and 0 <= copy.distance <= 1 and copy.jpeg_quality == 20
    assert (keep.width, keep.height) == photo.size and keep.size == (folder / "cat.png").stat().st_size
    nearest = pixrescue.similar(photo, folder, k=2)  # a PIL image as the query
    assert {path.name for path, _ in nearest} == {"cat.png", "cat-small-q20.jpg"}
    assert [d for _, d in nearest] == sorted(d for _, d in nearest) and nearest[0][1] <= 1.0
    moved = pixrescue.move_aside(groups, folder, tmp_path / "aside")
    assert moved.moved == [(copy.path, tmp_path.resolve() / "aside" / "sub" / "cat-small-q20.jpg")]
    assert moved.skipped == [] and "cat-small-q20.jpg" not in paths_in_db(folder / ".pixrescue.db")


def test_the_api_moves_nothing_of_a_group_whose_kept_copy_changed(folder, tmp_path):
    pixrescue.index(folder)
    groups = pixrescue.dupes(folder, method="phash")
    (folder / "cat.png").write_bytes((folder / "cat.png").read_bytes() + b"\0")  # changed since indexed
    report = pixrescue.move_aside(groups, folder, tmp_path / "aside")
    assert report.moved == [] and "none of its 1 other copies moved" in report.skipped[0][1]
    assert (folder / "sub" / "cat-small-q20.jpg").exists()


def test_the_api_reports_a_missing_catalog_and_an_unreadable_query(folder, tmp_path):
    from pixrescue.collection.catalog import CatalogError
    from pixrescue.collection.folder import QueryError

    with pytest.raises(CatalogError, match="pixrescue index"):
        pixrescue.dupes(tmp_path)
    pixrescue.index(folder)
    with pytest.raises(QueryError, match="broken.jpg"):
        pixrescue.similar(folder / "broken.jpg", folder)


def test_among_copies_of_one_size_and_format_the_better_looking_one_is_kept(tmp_path):
    """A PNG re-saved from a quality-10 JPEG (stored uncompressed: the larger file) and the
    lossless original tie on resolution and file quality; the quality score decides."""
    import io

    import pixrescue
    from helpers import chelsea

    original = chelsea()
    buffer = io.BytesIO()
    original.save(buffer, format="JPEG", quality=10)
    buffer.seek(0)
    Image.open(buffer).save(tmp_path / "resaved.png", compress_level=0)
    original.save(tmp_path / "original.png")
    assert (tmp_path / "resaved.png").stat().st_size > (tmp_path / "original.png").stat().st_size
    pixrescue.index(tmp_path)
    (group,) = pixrescue.dupes(tmp_path)
    assert [copy.path.name for copy in group] == ["original.png", "resaved.png"]
