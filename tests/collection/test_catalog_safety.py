"""`dupes --move-to` never trusts the catalogue; damaged catalogues, failing
files and concurrent openings are one-line errors or none; the CLI details
of `index`, `dupes` and `similar`."""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import sqlite3
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from PIL import Image
from skimage import data

from helpers import jpeg_bytes
from pixrescue.collection import catalog
from pixrescue.cli import dupes, index, main, similar


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result


def indexed_names(db: Path) -> list[str]:
    with sqlite3.connect(db) as connection:
        names = sorted(row[0] for row in connection.execute("SELECT path FROM images"))
    connection.close()
    return names


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def photos(tmp_path, photo):
    """cat.png (kept) and sub/cat-small-q20.jpg (its copy), astronaut.png (alone)."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    photo.save(root / "cat.png")
    small = photo.resize((photo.width // 2, photo.height // 2))
    (root / "sub" / "cat-small-q20.jpg").write_bytes(jpeg_bytes(small, 20))
    Image.fromarray(data.astronaut()).save(root / "astronaut.png")
    assert run("index", root).exit_code == 0
    return root


COPY = "sub/cat-small-q20.jpg"


# 1. --move-to moves only files inside FOLDER, unchanged since `index`


@pytest.mark.parametrize("copy_function", [shutil.copy2, shutil.copy], ids=["cp-a", "cp-r"])
def test_a_copied_folder_never_moves_the_originals(photos, tmp_path, copy_function):
    copy = tmp_path / "copy"
    shutil.copytree(photos, copy, copy_function=copy_function)  # with its .pixrescue.db
    before = files_under(photos)
    result = run("dupes", copy, "--move-to", tmp_path / "moved")
    assert files_under(photos) == before  # never named: untouched
    if copy_function is shutil.copy2:  # same size and mtime: the copy's own copy moves
        assert result.exit_code == 0, result.output
        assert (tmp_path / "moved" / COPY).exists() and not (copy / COPY).exists()
    else:  # new modification times: not what was indexed, so reported and left
        assert result.exit_code == 1
        assert "has changed since it was indexed" in result.stderr
        assert (copy / COPY).exists() and not (tmp_path / "moved" / COPY).exists()
    # once indexed again, the copy is a catalogue of its own files
    run("index", copy)
    assert all(not name.startswith("/") for name in indexed_names(copy / catalog.DB_NAME))


@pytest.mark.parametrize("stored", ["absolute", "../outside/secret.jpg", "sub/../../outside/secret.jpg"])
def test_a_crafted_catalogue_cannot_move_a_file_outside_the_folder(photos, tmp_path, stored):
    secret = tmp_path / "outside" / "secret.jpg"
    secret.parent.mkdir()
    secret.write_bytes(b"not a picture, not in the folder")
    st = secret.stat()
    with sqlite3.connect(photos / catalog.DB_NAME) as connection:
        connection.execute("UPDATE images SET path = ?, size = ?, mtime_ns = ? WHERE path LIKE '%cat-small%'",
                           (str(secret) if stored == "absolute" else stored, st.st_size, st.st_mtime_ns))
    connection.close()
    result = run("dupes", photos, "--move-to", tmp_path / "moved")
    assert result.exit_code == 1
    assert secret.read_bytes() == b"not a picture, not in the folder"
    assert files_under(tmp_path / "moved") == [catalog.MOVED_MARKER]
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 1 and "secret.jpg" in skipped[0]


def test_a_move_never_leaves_the_move_to_folder(photos, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "moved").mkdir()
    (tmp_path / "moved" / "sub").symlink_to(elsewhere)  # a folder on the way leads out
    result = run("dupes", photos, "--move-to", tmp_path / "moved")
    assert result.exit_code == 1 and "would leave" in result.stderr
    assert list(elsewhere.iterdir()) == [] and (photos / COPY).exists()


def test_a_copy_replaced_after_indexing_is_not_moved(photos, tmp_path):
    (photos / COPY).write_bytes(jpeg_bytes(Image.fromarray(data.coffee()), 50))
    os.utime(photos / COPY, ns=(0, 1_000_000_000))
    result = run("dupes", photos, "--move-to", tmp_path / "moved")
    assert result.exit_code == 1
    assert re.search(r"skipped .*cat-small-q20\.jpg: has changed since it was indexed", result.stderr)
    assert (photos / COPY).exists() and not (tmp_path / "moved" / COPY).exists()


@pytest.mark.parametrize("damage", ["missing", "changed"])
def test_nothing_of_a_group_moves_when_its_kept_copy_is_not_there_as_indexed(photos, tmp_path, damage):
    kept = photos / "cat.png"
    if damage == "missing":
        kept.unlink()
    else:
        kept.write_bytes(b"truncated")
    result = run("dupes", photos, "--move-to", tmp_path / "moved")
    assert result.exit_code == 1
    assert "the recommended copy" in result.stderr and "none of its 1 other copies moved" in result.stderr
    assert (photos / COPY).exists()  # the last copy of the picture stays
    assert not (tmp_path / "moved" / COPY).exists()


def test_a_rerun_after_a_partial_move_goes_on_and_never_overwrites(photos, photo, tmp_path):
    (photos / "cat-q50.jpg").write_bytes(jpeg_bytes(photo, 50))
    run("index", photos)
    moved = tmp_path / "moved"
    (moved / "sub").mkdir(parents=True)
    (moved / COPY).write_bytes(b"another file of that name")
    # a run that died after moving cat-q50.jpg, before forgetting it
    shutil.move(photos / "cat-q50.jpg", moved / "cat-q50.jpg")
    result = run("dupes", photos, "--move-to", moved)
    assert result.exit_code == 1 and "cat-q50.jpg: is missing" in result.stderr
    assert (moved / COPY).read_bytes() == b"another file of that name"
    assert (moved / "sub" / "cat-small-q20-1.jpg").exists() and not (photos / COPY).exists()
    run("index", photos)
    result = run("dupes", photos, "--move-to", moved)
    assert result.exit_code == 0 and "0 groups" in result.stderr
    assert (photos / "cat.png").exists()


def test_copies_moved_inside_the_folder_are_not_indexed_again(photos):
    result = run("dupes", photos, "--move-to", photos / "aside")
    assert result.exit_code == 0, result.output
    assert (photos / "aside" / catalog.MOVED_MARKER).exists() and (photos / "aside" / COPY).exists()
    result = run("index", photos)
    assert "0 added" in result.stderr
    assert indexed_names(photos / catalog.DB_NAME) == ["astronaut.png", "cat.png"]


def test_move_to_the_folder_itself_is_refused(photos):
    result = run("dupes", photos, "--move-to", photos)
    assert result.exit_code == 2 and (photos / COPY).exists()


# 2. damaged catalogues, concurrent openings


def damage(db: Path, how: str) -> None:
    if how == "random":
        db.write_bytes(os.urandom(8192))
    else:
        db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])


@pytest.mark.parametrize("how", ["random", "truncated"])
def test_a_damaged_catalogue_is_one_line_and_index_rebuild_replaces_it(photos, photo, tmp_path, how):
    db = photos / catalog.DB_NAME
    damage(db, how)
    query = tmp_path / "query.jpg"
    query.write_bytes(jpeg_bytes(photo, 40))
    for args in (["index", photos], ["dupes", photos], ["similar", query, photos]):
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        last = result.stderr.strip().splitlines()[-1]  # (index's progress bar ends with a carriage return)
        assert re.fullmatch(rf"error: {re.escape(str(db))}: the catalogue is damaged \(.+\): "
                            r"rebuild it with `pixrescue index --rebuild FOLDER`", last), result.stderr
    result = run("index", "--rebuild", photos)
    assert result.exit_code == 0 and "3 added" in result.stderr
    assert (photos / (catalog.DB_NAME + ".damaged")).exists()
    assert run("dupes", photos).exit_code == 0


def test_index_rebuild_starts_a_sound_catalogue_from_nothing(photos):
    result = run("index", "--rebuild", photos)
    assert result.exit_code == 0 and "3 added, 0 updated, 0 removed, 0 unchanged" in result.stderr


def _open(path: str, barrier) -> None:
    """Wait for the others, then open (and so create) the catalogue."""
    barrier.wait()
    catalog.connect(Path(path)).close()


def test_sixty_processes_can_create_one_catalogue_at_once(tmp_path):
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(60)
    processes = [context.Process(target=_open, args=(str(tmp_path / "p.db"), barrier)) for _ in range(60)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [process.exitcode for process in processes] == [0] * 60  # 1 for an exception


# 3. one file's failure is that file's


def test_index_goes_on_past_a_file_whose_fingerprinting_raises(photos, monkeypatch):
    real = catalog.partial_record

    def partial_record(picture, path, *args, **kwargs):
        if path.name == "astronaut.png":
            raise RuntimeError("something unexpected")
        return real(picture, path, *args, **kwargs)

    monkeypatch.setattr(catalog, "partial_record", partial_record)
    result = run("index", "--rebuild", photos)
    assert result.exit_code == 1
    assert "astronaut.png" in result.stderr and "RuntimeError: something unexpected" in result.stderr
    assert "2 added" in result.stderr and "1 failed" in result.stderr
    assert indexed_names(photos / catalog.DB_NAME) == ["cat.png", COPY]


# 4. similar IMAGE FOLDER


def test_similar_takes_the_folder_or_db_and_reports_an_unreadable_query(photos, photo, tmp_path):
    query = tmp_path / "query.jpg"
    query.write_bytes(jpeg_bytes(photo, 40))
    by_folder = run("similar", query, photos, "-k", "2")
    assert by_folder.exit_code == 0, by_folder.output
    assert by_folder.stdout == run("similar", query, "--db", photos / catalog.DB_NAME, "-k", "2").stdout
    assert by_folder.stdout.split()[1].endswith(("cat.png", "cat-small-q20.jpg"))
    result = run("similar", query)
    assert result.exit_code == 2 and "--db" in result.stderr and len(result.stderr.splitlines()) == 1
    unreadable = tmp_path / "notes.jpg"
    unreadable.write_bytes(b"plain text")
    for bad in (unreadable, tmp_path / "absent.jpg"):
        result = run("similar", bad, photos)
        assert result.exit_code != 0 and result.stdout == ""
        assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(f"error: {bad}")


# 5. CLI details


def test_json_and_csv_together_are_refused_before_any_work(tmp_path):
    result = run("dupes", tmp_path, "--json", "--csv")  # no catalogue there: not even looked for
    assert result.exit_code == 2 and "--json" in result.stderr and "no catalog" not in result.stderr


@pytest.mark.parametrize("method, unit", [("combined", "1.0 = duplicate threshold"), ("phash", "bits of 64"),
                                          ("cnn", "cosine distance")])
def test_the_dupes_table_names_its_columns_and_the_distance_unit(photos, method, unit):
    result = run("dupes", photos, "--method", method, "--threshold", "100")
    header, group, keep, copy = result.stdout.splitlines()[:4]
    assert "distance" in header and "path" in header and unit in header
    assert group.startswith("group 1") and keep.split()[0] == "keep"
    float(copy.split()[0])


def test_index_shows_a_total_on_a_terminal_and_no_bar_in_a_pipe(photos):
    import fcntl
    import pty
    import struct
    import subprocess
    import sys
    import termios

    (photos / "broken.jpg").write_bytes(b"not really a jpeg")
    command = [sys.executable, "-m", "pixrescue", "index", "--rebuild", str(photos)]
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    with subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=secondary) as done:
        os.close(secondary)
        seen = b""
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            seen += chunk
    os.close(primary)
    assert re.search(rb"\b\d/4\b", seen), seen
    piped = subprocess.run(command, capture_output=True, text=True)
    assert not re.search(r"\b\d/4\b", piped.stderr) and "\r" not in piped.stderr, piped.stderr
    assert f"error: {photos / 'broken.jpg'}" in piped.stderr and "4 unchanged" not in piped.stderr


def test_every_option_has_help():
    for command in (index, dupes, similar):
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{command.name} {param.opts[0]}"
