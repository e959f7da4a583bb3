"""The loader and the writer keep what a user expects to keep."""

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from pixrescue.imaging import ImageLoadError, ImageSaveError, Picture, load, save

from helpers import png_header_only

ORIENTATION = 0x0112


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_png_with_alpha_round_trips_exactly(tmp_path):
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, (40, 60, 4), dtype=np.uint8)
    source = tmp_path / "a.png"
    Image.fromarray(array, "RGBA").save(source)
    picture = load(source)
    assert picture.mode == "RGBA" and picture.has_alpha
    save(picture, tmp_path / "b.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "b.png")), array)


def test_icc_profile_is_kept(tmp_path, photo):
    profile = srgb_icc()
    source = tmp_path / "a.jpg"
    photo.save(source, quality=90, icc_profile=profile)
    picture = load(source)
    assert picture.icc_profile == profile
    for name in ("b.png", "b.jpg", "b.webp", "b.tif"):
        save(picture, tmp_path / name)
        assert Image.open(tmp_path / name).info.get("icc_profile") == profile, name


def test_exif_orientation_is_applied_and_reset(tmp_path):
    array = np.zeros((20, 40, 3), dtype=np.uint8)
    array[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # rotate 90° clockwise to display
    exif[0x010F] = "pixrescue-test-camera"  # Make
    source = tmp_path / "a.jpg"
    Image.fromarray(array).save(source, quality=95, exif=exif)
    picture = load(source)
    assert picture.size == (20, 40)  # turned upright
    upright = np.asarray(picture.image.convert("L"), dtype=float)
    assert upright[:20].mean() > 200 and upright[20:].mean() < 50  # white half now on top
    save(picture, tmp_path / "b.jpg")
    written = Image.open(tmp_path / "b.jpg").getexif()
    assert written.get(ORIENTATION) == 1
    assert written.get(0x010F) == "pixrescue-test-camera"


def test_grayscale_stays_grayscale(tmp_path, gray_photo):
    source = tmp_path / "g.jpg"
    gray_photo.save(source, quality=50)
    picture = load(source)
    assert picture.mode == "L"
    save(picture, tmp_path / "g.png")
    assert Image.open(tmp_path / "g.png").mode == "L"


def animated_frames(n=4, size=(32, 24)):
    return [Image.new("RGB", size, (60 * i, 255 - 60 * i, 40)) for i in range(n)]


@pytest.mark.parametrize("suffix", [".gif", ".png", ".webp"])
def test_animation_keeps_frames_durations_and_loop(tmp_path, suffix):
    frames = animated_frames()
    durations = [40, 80, 120, 160]
    source = tmp_path / f"anim{suffix}"
    options = {"lossless": True} if suffix == ".webp" else {}
    frames[0].save(source, save_all=True, append_images=frames[1:], duration=durations, loop=3, **options)
    picture = load(source)
    assert len(picture.frames) == 4
    assert picture.durations == durations
    assert picture.loop == 3
    target = tmp_path / f"out{suffix}"
    save(picture, target)
    again = load(target)
    assert again.durations == durations and again.loop == 3 and len(again.frames) == 4
    for a, b in zip(again.frames, frames):
        assert np.abs(np.asarray(a.convert("RGB"), int) - np.asarray(b, int)).max() <= 8


def test_palette_with_transparency_becomes_rgba(tmp_path):
    image = Image.new("P", (10, 10), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.putpixel((0, 0), 0)
    source = tmp_path / "p.png"
    image.save(source, transparency=0)
    picture = load(source)
    assert picture.mode == "RGBA"
    alpha = np.asarray(picture.image.getchannel("A"))
    assert alpha[0, 0] == 0 and alpha[5, 5] == 255


def test_16_bit_png_is_reduced_to_its_high_byte(tmp_path):
    values = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    source = tmp_path / "deep.png"
    Image.fromarray(values).save(source)
    picture = load(source)
    assert picture.mode == "L" and picture.bit_depth == 16
    assert np.array_equal(np.asarray(picture.image), (values >> 8).astype(np.uint8))


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    source = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(source, quality=95)  # red
    picture = load(source)
    assert picture.mode == "RGB"
    r, g, b = np.asarray(picture.image, dtype=int).reshape(-1, 3).mean(0)
    assert r > 200 and g < 60 and b < 60


def test_jpeg_output_of_alpha_is_refused_unless_flattened(tmp_path):
    picture = Picture(frames=[Image.new("RGBA", (8, 8), (255, 0, 0, 0))])
    with pytest.raises(ImageSaveError, match="--background"):
        save(picture, tmp_path / "x.jpg")
    assert list(tmp_path.iterdir()) == []
    save(picture, tmp_path / "x.jpg", background="white")
    assert np.asarray(Image.open(tmp_path / "x.jpg")).min() > 240  # transparent -> white


def test_existing_output_is_not_replaced_without_overwrite(tmp_path):
    picture = Picture(frames=[Image.new("L", (8, 8), 10)])
    target = tmp_path / "x.png"
    target.write_bytes(b"keep me")
    with pytest.raises(ImageSaveError, match="exists"):
        save(picture, target)
    assert target.read_bytes() == b"keep me"
    save(picture, target, overwrite=True)
    assert Image.open(target).getpixel((0, 0)) == 10


def test_a_failed_write_leaves_no_file(tmp_path):
    animation = Picture(frames=animated_frames(2), durations=[10, 10])
    with pytest.raises(ImageSaveError):
        save(animation, tmp_path / "x.jpg")  # JPEG has one frame
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"", "empty"),
        (b"hello, I am text\n", "not an image"),
        (png_header_only(20000, 20000), "too large"),
    ],
)
def test_bad_inputs_get_one_line_errors(tmp_path, payload, message):
    path = tmp_path / "bad.jpg"
    path.write_bytes(payload)
    with pytest.raises(ImageLoadError, match=message) as caught:
        load(path)
    assert "\n" not in str(caught.value)


def test_truncated_jpeg_is_an_error(tmp_path, photo):
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=80)
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageLoadError, match="truncated"):
        load(path)


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(ImageLoadError, match="cannot read"):
        load(tmp_path / "nope.png")


def test_a_gif_without_a_loop_count_still_plays_once(tmp_path):
    frames = animated_frames(3)
    frames[0].save(tmp_path / "once.gif", save_all=True, append_images=frames[1:], duration=50)
    picture = load(tmp_path / "once.gif")
    assert picture.loop is None
    save(picture, tmp_path / "again.gif")
    assert "loop" not in Image.open(tmp_path / "again.gif").info


def test_outputs_get_ordinary_permissions(tmp_path):
    import os
    import stat

    save(Picture(frames=[Image.new("L", (8, 8))]), tmp_path / "x.png")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "x.png").stat().st_mode) == 0o666 & ~umask


def test_png_text_chunks_are_kept(tmp_path, photo):
    from PIL import PngImagePlugin

    chunks = PngImagePlugin.PngInfo()
    chunks.add_text("Description", "a cat")
    photo.save(tmp_path / "a.png", pnginfo=chunks)
    picture = load(tmp_path / "a.png")
    assert picture.text == {"Description": "a cat"}
    save(picture, tmp_path / "b.png")
    assert Image.open(tmp_path / "b.png").text == {"Description": "a cat"}
