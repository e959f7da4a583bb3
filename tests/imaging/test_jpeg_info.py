import pytest

from pixrescue.imaging import load
from pixrescue.imaging.jpeg import CHROMA_BASE, LUMA_BASE, estimate_quality, ijg_table


@pytest.mark.parametrize("quality", [1, 5, 10, 23, 50, 75, 90, 95, 100])
def test_quality_is_read_back_from_the_tables(write_jpeg, photo, quality):
    picture = load(write_jpeg(photo, quality=quality))
    assert picture.jpeg is not None
    assert picture.jpeg.quality == quality
    assert picture.jpeg.quality_exact


def test_grayscale_jpeg_has_one_table_and_no_subsampling(write_jpeg, gray_photo):
    info = load(write_jpeg(gray_photo, quality=40)).jpeg
    assert info.quality == 40
    assert set(info.quantization) == {0}
    assert info.subsampling == "none"


@pytest.mark.parametrize("subsampling, name", [(0, "4:4:4"), (1, "4:2:2"), (2, "4:2:0")])
def test_chroma_subsampling_is_reported(write_jpeg, photo, subsampling, name):
    assert load(write_jpeg(photo, quality=60, subsampling=subsampling)).jpeg.subsampling == name


def test_non_ijg_tables_give_the_nearest_quality_and_say_it_is_not_exact():
    tables = {0: [t + 1 for t in ijg_table(LUMA_BASE, 30)], 1: ijg_table(CHROMA_BASE, 30)}
    quality, exact = estimate_quality(tables)
    assert abs(quality - 30) <= 2
    assert not exact


def test_png_has_no_jpeg_info(tmp_path, photo):
    path = tmp_path / "a.png"
    photo.save(path)
    assert load(path).jpeg is None
