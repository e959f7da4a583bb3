"""Re-shared pictures: the harshest compression a picture went through, not only its last one."""

import numpy as np
import pytest
from PIL import Image
from skimage import data

import pixrescue
from helpers import psnr
from pixrescue.imaging.history import double_quantization, quantized_quality, shifted_grid
from pixrescue.imaging.jpeg import ijg_tables, read_info, reopened
from pixrescue.tasks.restore import (RESHARED_MARGIN, RESHARED_TELL_FLOOR, RESHARED_TELL_HARSHER, conditioning,
                                     estimate_quality, harsher_before)


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    """A real 512x512 colour photograph shipped with scikit-image."""
    return Image.fromarray(data.astronaut())


def write(tmp_path, image: Image.Image, quality: int, name: str = "meme.jpg"):
    path = tmp_path / name
    image.convert("RGB").save(path, quality=quality)
    return path


def test_a_harsh_save_then_a_gentle_one_is_seen_with_its_first_quality(tmp_path, astronaut):
    path = write(tmp_path, reopened(astronaut, 15), 90)
    picture = pixrescue.load(path)
    assert picture.jpeg.quality == 90
    history = picture.jpeg.history
    assert history.recompressed
    assert abs(history.first_quality - 15) <= 10


def test_the_default_restores_a_reshared_picture_better_than_its_last_tables_allow(tmp_path, astronaut):
    path = write(tmp_path, reopened(astronaut, 15), 90)
    reference = np.asarray(astronaut)
    as_file_says = pixrescue.restore(path, strength=90, project=True)  # the last save's tables, projected
    default = pixrescue.restore(path)
    gain_file = psnr(reference, as_file_says) - psnr(reference, Image.open(path))
    gain_default = psnr(reference, default) - psnr(reference, Image.open(path))
    assert gain_default >= gain_file + 0.4, (gain_default, gain_file)


def test_a_single_gentle_save_is_not_flagged_and_keeps_projection(tmp_path, astronaut):
    path = write(tmp_path, astronaut, 90)
    picture = pixrescue.load(path)
    assert not picture.jpeg.history.recompressed
    told = conditioning("qgunet.jpeg-blind", picture.image, picture.jpeg)
    assert told.project and "its own tables" in told.why
    for quality in (10, 30, 50, 75):
        single = reopened(astronaut, quality)
        assert not double_quantization(single, single.quantization[0]).recompressed, quality


def test_a_resized_reshared_picture_is_restored_better_than_before(astronaut):
    small = reopened(astronaut, 15).convert("RGB").resize((461, 461), Image.BICUBIC)
    reference = np.asarray(astronaut.resize((461, 461), Image.BICUBIC))
    reshared = reopened(small, 90)
    as_file_says = pixrescue.restore(reshared, strength=90, project=True)
    default = pixrescue.restore(reshared)
    assert psnr(reference, default) > psnr(reference, as_file_says) + 0.2


def test_a_crop_between_saves_is_found_on_its_shifted_grid(tmp_path, astronaut):
    first = reopened(astronaut, 15).crop((3, 5, 512, 512))
    picture = pixrescue.load(write(tmp_path, first, 90))
    assert shifted_grid(picture.image) == (3, 5)  # the old blocks start 8 - 5 rows and 8 - 3 columns in
    told = conditioning("qgunet.jpeg-blind", picture.image, picture.jpeg)
    assert not told.project and "shifted" in told.why
    assert abs(int(told.why.split("quality ")[1].split()[0]) - 15) <= 10


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_a_turned_single_save_keeps_its_own_grid(tmp_path, astronaut, orientation):
    """EXIF turns move the file's own blocks off the corner when a side is no multiple of 8:
    they must not be taken for an earlier, shifted compression."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "turned.jpg"
    astronaut.crop((0, 0, 501, 437)).save(path, quality=60, exif=exif)
    picture = pixrescue.load(path)
    assert picture.orientation == orientation
    told = conditioning("qgunet.jpeg-blind", picture.image, picture.jpeg, orientation=picture.orientation)
    assert told.project and "its own tables" in told.why


def test_a_jpeg_kept_as_png_is_read_at_its_harshest_quality(astronaut):
    """Without tables, the DCT histograms of the decoded pixels give the quality exactly, where the
    estimator is off by several points; a clean photograph shows none."""
    assert quantized_quality(astronaut) is None
    assert quantized_quality(reopened(astronaut, 20).convert("RGB")) in (19, 20, 21)
    reshared = reopened(reopened(astronaut, 15), 90).convert("RGB")
    assert abs(quantized_quality(reshared) - 15) <= 2
    cropped = reopened(astronaut, 20).convert("RGB").crop((3, 5, 512, 512))
    assert abs(quantized_quality(cropped, shifted_grid(cropped)) - 20) <= 2
    told = conditioning("qgunet.jpeg-blind", reshared)
    assert "DCT" in told.why and np.array_equal(told.tables, ijg_tables(quantized_quality(reshared)))


def test_a_png_of_a_harsh_jpeg_is_restored_better_than_its_estimate_alone(astronaut):
    """On this photograph the estimator reads quality 11 for a q20 JPEG (the DCT reading: 20); told
    the quality read, the network gained 0.19 dB more when this test was written."""
    reference = np.asarray(astronaut)
    png = reopened(astronaut, 20).convert("RGB")
    estimated = pixrescue.restore(png, strength=estimate_quality("qgunet.jpeg-blind", png))
    assert psnr(reference, pixrescue.restore(png)) >= psnr(reference, estimated) + 0.1


@pytest.mark.parametrize("quality", [60, 75, 90, 95])
def test_the_reshare_detector_leaves_single_saves_to_their_own_tables(astronaut, quality):
    single = reopened(astronaut, quality).convert("RGB")
    seen, harsher = harsher_before("qgunet.jpeg-blind", single, (0, 0), quality)
    assert not harsher, (quality, seen)


def test_the_reshare_detector_finds_a_harsh_save_before_a_resize(astronaut):
    """Resized between its saves, a picture keeps neither its first grid nor its first
    quantization: only the detector sees that the blocks came from a harsher save."""
    small = reopened(astronaut, 15).convert("RGB").resize((358, 358), Image.BICUBIC)
    reshared = reopened(small, 85)
    seen, harsher = harsher_before("qgunet.jpeg-blind", reshared.convert("RGB"), (0, 0), 85)
    assert harsher and seen < 85
    told = conditioning("qgunet.jpeg-blind", reshared.convert("RGB"), read_info(reshared))
    assert not told.project and "in its pixels" in told.why


def test_a_model_without_a_calibrated_detector_takes_a_much_harsher_estimate(astronaut, monkeypatch):
    from pixrescue import zoo

    card = {k: v for k, v in zoo.load_card("qgunet.jpeg-blind").items() if k != "reshare"}
    monkeypatch.setattr(zoo, "load_card", lambda name: card)
    for picture, last in ((reopened(astronaut, 90).convert("RGB"), 90),
                          (reopened(astronaut, 20).convert("RGB"), 90)):
        told, harsher = harsher_before("qgunet.jpeg-blind", picture, (0, 0), last)
        seen = estimate_quality("qgunet.jpeg-blind", picture)
        assert harsher == (seen <= last - RESHARED_MARGIN)
        assert told == (min(seen, max(seen - RESHARED_TELL_HARSHER, RESHARED_TELL_FLOOR)) if harsher else seen)
    assert harsher  # a q20 picture claimed as a q90 file: 70 points apart


def test_weights_written_before_the_detector_still_load_and_use_the_margin(tmp_path, astronaut):
    import json

    from safetensors.torch import load_file, save_file

    from pixrescue import zoo

    shipped = zoo.weights_path("qgunet.jpeg-blind")
    older = tmp_path / "qgunet.jpeg-blind.safetensors"
    save_file({k: v for k, v in load_file(str(shipped)).items() if not k.startswith("reshare.")}, str(older))
    card = {k: v for k, v in zoo.load_card("qgunet.jpeg-blind").items() if k != "reshare"}
    older.with_suffix(".json").write_text(json.dumps(card))
    picture = reopened(astronaut, 20).convert("RGB")
    told, harsher = harsher_before(str(older), picture, (0, 0), 90)
    seen = estimate_quality(str(older), picture)
    assert harsher and told == min(seen, max(seen - RESHARED_TELL_HARSHER, RESHARED_TELL_FLOOR))
    assert np.array_equal(np.asarray(pixrescue.restore(picture, model=str(older), strength=30)),
                          np.asarray(pixrescue.restore(picture, strength=30)))
