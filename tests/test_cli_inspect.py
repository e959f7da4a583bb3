"""`pixrescue inspect`: a table or JSON per file, bad input reported like `fix` reports it."""

import json

from click.testing import CliRunner

from helpers import jpeg_bytes
from pixrescue.cli import main


def inspect(*args):
    result = CliRunner().invoke(main, ["inspect", *map(str, args)])
    assert "Traceback" not in result.output
    return result


def test_a_table_per_file_and_nothing_written(photo, tmp_path):
    (tmp_path / "a.jpg").write_bytes(jpeg_bytes(photo, 10))
    photo.save(tmp_path / "b.png")
    before = sorted(tmp_path.iterdir())
    result = inspect(tmp_path)
    assert result.exit_code == 0, result.output
    assert "JPEG 451x300 RGB" in result.output and "quality 10, subsampling 4:2:0" in result.output
    assert "PNG 451x300 RGB" in result.output
    assert "fix (pixrescue fix: JPEG artifacts)" in result.output
    assert "inspected 2 images" in result.output
    assert sorted(tmp_path.iterdir()) == before


def test_a_folder_is_searched_as_fix_searches_it(photo, tmp_path):
    (tmp_path / "a.jpg").write_bytes(jpeg_bytes(photo, 30))
    photo.save(tmp_path / "a.fixed.png")  # what `fix` wrote beside its input
    result = inspect(tmp_path)
    assert result.exit_code == 0, result.output
    assert "inspected 1 image" in result.output and "a.fixed.png" not in result.output
    named = inspect(tmp_path / "a.fixed.png")  # named on its own, it is inspected
    assert named.exit_code == 0 and "PNG 451x300 RGB" in named.output


def test_json_is_one_list_of_objects(photo, tmp_path):
    (tmp_path / "a.jpg").write_bytes(jpeg_bytes(photo, 40))
    result = CliRunner().invoke(main, ["inspect", "--json", str(tmp_path / "a.jpg")])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert isinstance(found, list) and len(found) == 1
    assert found[0]["jpeg_quality"] == 40 and found[0]["source"] == str(tmp_path / "a.jpg")
    assert found[0]["recommendations"][0] == "fix"


def test_a_corrupt_file_is_one_line_and_the_others_are_still_reported(photo, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jpg").write_bytes(jpeg_bytes(photo, 30))
    (tmp_path / "in" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    (tmp_path / "in" / "c.png").write_bytes(b"")
    result = CliRunner().invoke(main, ["inspect", "--json", str(tmp_path / "in")])
    assert result.exit_code == 1
    assert [entry["source"] for entry in json.loads(result.stdout)] == [str(tmp_path / "in" / "a.jpg")]
    failed = [line for line in result.stderr.splitlines() if line.startswith("  failed: ")]
    assert len(failed) == 2 and f"{tmp_path / 'in' / 'c.png'}: empty file" in failed[1]
    fixed = CliRunner().invoke(main, ["fix", str(tmp_path / "in"), "-o", str(tmp_path / "out")])
    assert fixed.exit_code == 1
    assert failed == [line for line in fixed.stderr.splitlines() if line.startswith("  failed: ")]
    assert "inspected 1 image, 2 failed" in result.stderr


def test_a_folder_without_images_is_refused_like_fix(tmp_path):
    (tmp_path / "sub").mkdir()
    result = inspect(tmp_path)
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {tmp_path}: no images found (try --recursive)"
