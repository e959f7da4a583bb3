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


def jpeg_of(photo: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=80, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("progressive", [False, True])
def test_a_jpeg_cut_short_that_still_ends_with_its_end_marker_is_an_error(tmp_path, photo, progressive):
    data = jpeg_of(photo, progressive=progressive)
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2] + b"\xff\xd9")
    Image.open(path).load()  # Pillow takes it, its lower part grey
    with pytest.raises(ImageLoadError, match="its compressed data ends before the picture does"):
        load(path)


def test_a_jpeg_header_claiming_a_picture_larger_than_its_data_is_refused(tmp_path, photo):
    data = bytearray(jpeg_of(photo))
    frame = data.index(b"\xff\xc0")  # baseline frame header: marker, length, precision, height, width
    data[frame + 5: frame + 9] = (9000).to_bytes(2, "big") + (9000).to_bytes(2, "big")
    path = tmp_path / "claims.jpg"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageLoadError, match="its compressed data ends before the picture does"):
        load(path)


def test_a_jpeg_with_stray_bytes_before_a_marker_is_read_as_every_viewer_reads_it(tmp_path, photo):
    data = jpeg_of(photo)
    path = tmp_path / "stray.jpg"
    table = data.index(b"\xff\xc4")  # libjpeg warns of 3 extraneous bytes before this marker, and goes on
    path.write_bytes(data[:table] + b"\x00\x00\x00" + data[table:])
    assert np.array_equal(np.asarray(load(path).image), np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))


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


# --- Damaged inputs: whatever a decoder lets out becomes an ImageLoadError ---


def small_animated_gif() -> bytes:
    frames = animated_frames(4, (16, 12))
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    return buffer.getvalue()


def test_every_truncation_of_an_animated_gif_is_a_clean_error(tmp_path):
    # Pillow lets IndexError and struct.error out of a GIF cut inside a later frame.
    data = small_animated_gif()
    path = tmp_path / "cut.gif"
    for length in range(1, len(data)):
        path.write_bytes(data[:length])
        try:
            load(path)
        except ImageLoadError as exc:
            assert "\n" not in str(exc), length
            assert str(exc).startswith(("corrupt or truncated image", "not an image file")), (length, str(exc))


def test_a_tiff_whose_second_page_has_no_size_is_a_clean_error(tmp_path):
    import struct

    buffer = io.BytesIO()
    Image.new("L", (8, 6), 5).save(buffer, format="TIFF", save_all=True, append_images=[Image.new("L", (8, 6), 9)])
    data = bytearray(buffer.getvalue())
    first = struct.unpack_from("<I", data, 4)[0]
    second = struct.unpack_from("<I", data, first + 2 + 12 * struct.unpack_from("<H", data, first)[0])[0]
    for k in range(struct.unpack_from("<H", data, second)[0]):
        if struct.unpack_from("<H", data, second + 2 + 12 * k)[0] == 256:  # ImageWidth
            struct.pack_into("<H", data, second + 2 + 12 * k, 0x7FFF)  # now an unknown tag
    path = tmp_path / "pages.tif"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageLoadError, match=r"corrupt or truncated image \(TypeError: Missing dimensions\)"):
        load(path)  # Pillow raised a bare TypeError


@pytest.mark.parametrize("kind", [IndexError, OverflowError, RuntimeError, TypeError, KeyError, ZeroDivisionError,
                                  RecursionError, AssertionError])
def test_any_decoder_failure_becomes_an_image_load_error(tmp_path, monkeypatch, kind):
    import struct

    from pixrescue.imaging import io as image_io

    def broken(*args, **kwargs):
        raise kind("bad thing\nsecond line")

    monkeypatch.setattr(image_io, "_read", broken)
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    with pytest.raises(ImageLoadError) as caught:
        load(tmp_path / "a.png")
    message = str(caught.value)
    assert message.startswith(f"corrupt or truncated image ({kind.__name__}: ") and "bad thing" in message
    assert "\n" not in message

    monkeypatch.setattr(image_io, "_read", lambda *a: struct.unpack(">H", b""))
    with pytest.raises(ImageLoadError, match=r"\(error: unpack requires"):
        load(tmp_path / "a.png")


def test_a_memory_error_stays_a_memory_error(tmp_path, monkeypatch):
    from pixrescue.imaging import io as image_io

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(image_io, "_read", exhausted)
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    with pytest.raises(MemoryError):
        load(tmp_path / "a.png")


def test_a_later_tiff_page_over_the_pixel_limit_is_refused(tmp_path):
    Image.new("L", (8, 8)).save(tmp_path / "pages.tif", save_all=True, append_images=[Image.new("L", (200, 200))])
    assert len(load(tmp_path / "pages.tif").frames) == 2
    with pytest.raises(ImageLoadError, match="too large"):
        load(tmp_path / "pages.tif", max_pixels=1000)


def test_a_name_that_cannot_be_a_path_is_a_clean_error(tmp_path):
    with pytest.raises(ImageLoadError, match="cannot read"):
        load(tmp_path / ("a" * 300 + ".png"))  # longer than a file name may be
    with pytest.raises(ImageLoadError, match="cannot read"):
        load(str(tmp_path / "a\0b.png"))


# --- JPEG tables: read_info never raises ---


def remap_jpeg_tables(data: bytes, mapping: dict[int, int]) -> bytes:
    """``data`` with its DQT tables (and the components that use them) renumbered."""
    out, at = bytearray(data), 2
    while at + 4 <= len(out) and out[at] == 0xFF:
        marker, length = out[at + 1], int.from_bytes(out[at + 2 : at + 4], "big")
        if marker == 0xDB:  # DQT: (precision << 4 | id) then 64 or 128 bytes, repeated
            k = at + 4
            while k < at + 2 + length:
                precision, table = out[k] >> 4, out[k] & 15
                out[k] = precision << 4 | mapping.get(table, table)
                k += 1 + 64 * (2 if precision else 1)
        elif marker in (0xC0, 0xC1, 0xC2):  # SOF: components (id, sampling, table)
            for c in range(out[at + 9]):
                entry = at + 10 + 3 * c + 2
                out[entry] = mapping.get(out[entry], out[entry])
        elif marker == 0xDA:
            break
        at += 2 + length
    return bytes(out)


def test_a_jpeg_that_numbers_its_tables_otherwise_still_gets_facts(tmp_path, photo):
    from pixrescue.imaging.jpeg import read_info

    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=75)
    odd = remap_jpeg_tables(buffer.getvalue(), {0: 2, 1: 3})
    with Image.open(io.BytesIO(odd)) as opened:
        assert sorted(opened.quantization) == [2, 3]
        info = read_info(opened)  # raised ValueError: no quantization tables
    assert info is not None and sorted(info.quantization) == [2, 3]
    assert info.quality == 75 and info.quality_exact
    (tmp_path / "odd.jpg").write_bytes(odd)
    picture = load(tmp_path / "odd.jpg")  # libjpeg decodes it: tables 2 and 3 are legal
    assert picture.jpeg is not None and picture.jpeg.quality == 75


@pytest.mark.parametrize(
    "quantization",
    [
        {5: [16] * 64},
        {0: [1] * 10},
        {0: None},
        {0: ["x"] * 64},
        {"a": [1] * 64},
        {0: [0] * 64, 1: [65535] * 64},
        {0: [2**70] * 64},
    ],
)
def test_read_info_never_raises_on_odd_tables(quantization):
    from types import SimpleNamespace

    from pixrescue.imaging.jpeg import JpegInfo, read_info

    image = SimpleNamespace(format="JPEG", mode="RGB", quantization=quantization)
    info = read_info(image)
    assert info is None or (isinstance(info, JpegInfo) and 1 <= info.quality <= 100 and info.subsampling == "unknown")


# --- Animation metadata out of a format's range is clamped, with a warning ---


@pytest.mark.parametrize(
    "suffix, loop, durations, expected_loop, expected_durations",
    [
        (".gif", 70000, [40, 80, 120, 160], 65535, [40, 80, 120, 160]),
        (".gif", 3, [700000, 80, 2**40, 160], 3, [655350, 80, 655350, 160]),
        (".gif", -1, [-15, 80, 120, 160], 0, [0, 80, 120, 160]),
        (".webp", 70000, [40, 80, 120, 160], 65535, [40, 80, 120, 160]),
        (".webp", 3, [2**25, 80, 120, 2**24], 3, [2**24 - 1, 80, 120, 2**24 - 1]),
        (".webp", -5, [-40, 80, 120, 160], 0, [0, 80, 120, 160]),
        (".png", 2**32, [40, 80, 120, 160], 2**31 - 1, [40, 80, 120, 160]),
        (".png", 3, [65537, 700001, 10**9, 160], 3, [65540, 700000, 65535000, 160]),
        (".png", -1, [-40, 80, 120, 160], 0, [0, 80, 120, 160]),
    ],
)
def test_animation_metadata_out_of_range_is_clamped_with_a_warning(tmp_path, suffix, loop, durations,
                                                                    expected_loop, expected_durations):
    picture = Picture(frames=animated_frames(), durations=durations, loop=loop)
    target = tmp_path / f"anim{suffix}"
    with pytest.warns(UserWarning) as caught:
        save(picture, target)
    messages = [str(w.message) for w in caught]
    assert messages and all("\n" not in m and "anim" in m for m in messages)
    assert any("clamped" in m for m in messages)
    again = load(target)
    assert again.loop == expected_loop
    assert again.durations == expected_durations
    assert list(tmp_path.iterdir()) == [target]


def test_a_run_of_identical_gif_frames_is_clamped_as_a_whole(tmp_path):
    # Pillow writes identical frames as one frame with their durations added up.
    same = Image.new("RGB", (8, 8), (200, 10, 10))
    frames = [same, same.copy(), same.copy(), Image.new("RGB", (8, 8))]
    picture = Picture(frames=frames, durations=[600000, 600000, 600000, 100], loop=0)
    with pytest.warns(UserWarning, match="clamped"):
        save(picture, tmp_path / "still.gif")
    again = load(tmp_path / "still.gif")
    assert again.durations == [655350, 100]


def test_in_range_animation_metadata_saves_without_a_warning(tmp_path):
    import warnings

    picture = Picture(frames=animated_frames(), durations=[0, 655350, 65535, 10], loop=65535)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for suffix in (".gif", ".webp", ".png"):
            save(picture, tmp_path / f"a{suffix}")
            assert load(tmp_path / f"a{suffix}").loop == 65535


def test_fewer_durations_than_frames_are_filled_in(tmp_path):
    picture = Picture(frames=animated_frames(3), durations=[40, 80], loop=0)
    with pytest.warns(UserWarning, match="2 durations for 3 frames"):
        save(picture, tmp_path / "a.gif")
    assert load(tmp_path / "a.gif").durations == [40, 80, 100]


# --- Where the output goes: any name the file system takes; clean errors otherwise ---


def no_leftovers(folder) -> None:
    leftovers = [p.name for p in folder.rglob("*") if p.name.endswith(".part") or p.name.startswith(".pxr-")]
    assert leftovers == []


@pytest.mark.parametrize("stem", ["a" * 251, "é" * 125])  # 255 and 254 bytes with ".png"
def test_a_name_at_the_file_system_limit_can_be_written(tmp_path, stem):
    target = tmp_path / f"{stem}.png"
    save(Picture(frames=[Image.new("L", (8, 8), 7)]), target)
    assert Image.open(target).getpixel((0, 0)) == 7
    no_leftovers(tmp_path)


def test_a_name_over_the_limit_is_a_clean_error(tmp_path):
    target = tmp_path / ("a" * 252 + ".png")
    with pytest.raises(ImageSaveError, match="cannot write .*a{252}.png: File name too long") as caught:
        save(Picture(frames=[Image.new("L", (8, 8))]), target)
    assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_destination_under_a_file_is_a_clean_error(tmp_path):
    (tmp_path / "taken").write_bytes(b"a file")
    picture = Picture(frames=[Image.new("L", (8, 8))])
    for target in (tmp_path / "taken" / "x.png", tmp_path / "taken" / "sub" / "x.png"):
        with pytest.raises(ImageSaveError, match=f"cannot write {target}: .*taken is a file, not a folder"):
            save(picture, target)
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]


def test_a_destination_that_is_a_folder_is_a_clean_error(tmp_path):
    (tmp_path / "x.png").mkdir()
    with pytest.raises(ImageSaveError, match="exists"):
        save(Picture(frames=[Image.new("L", (8, 8))]), tmp_path / "x.png")
    with pytest.raises(ImageSaveError, match="x.png: it is a folder"):
        save(Picture(frames=[Image.new("L", (8, 8))]), tmp_path / "x.png", overwrite=True)
    no_leftovers(tmp_path)


def test_a_read_only_folder_is_a_clean_error(tmp_path, monkeypatch):
    import errno
    import os
    import tempfile

    def refused(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    picture = Picture(frames=[Image.new("L", (8, 8))])
    monkeypatch.setattr(tempfile, "mkstemp", refused)
    with pytest.raises(ImageSaveError, match=f"cannot write {tmp_path / 'x.png'}: Permission denied"):
        save(picture, tmp_path / "x.png")
    monkeypatch.undo()
    monkeypatch.setattr(type(tmp_path), "mkdir", refused)
    with pytest.raises(ImageSaveError, match="new/x.png: Permission denied"):
        save(picture, tmp_path / "new" / "x.png")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() == 0,
                    reason="the superuser writes into read-only folders")
def test_a_really_read_only_folder_is_a_clean_error(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        for target in (folder / "x.png", folder / "sub" / "x.png"):
            with pytest.raises(ImageSaveError, match="Permission denied"):
                save(Picture(frames=[Image.new("L", (8, 8))]), target)
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_an_encoder_failure_is_a_clean_error_and_leaves_nothing(tmp_path, monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("encoder gave up")

    monkeypatch.setattr(Image.Image, "save", broken)
    with pytest.raises(ImageSaveError, match=r"x.webp: RuntimeError: encoder gave up"):
        save(Picture(frames=[Image.new("L", (8, 8))]), tmp_path / "x.webp")
    assert list(tmp_path.iterdir()) == []


def test_png_outputs_use_the_faster_compression_level(tmp_path):
    """PNGs are written at zlib level 3 (measured three times faster than Pillow's 6 on a
    restored photograph, for a slightly larger file): the same pixels, a different size."""
    import io as bytes_io

    from skimage import data

    from pixrescue.imaging.io import PNG_COMPRESS_LEVEL

    image = Image.fromarray(data.astronaut())
    written = save(Picture(frames=[image]), tmp_path / "a.png")
    default = bytes_io.BytesIO()
    image.save(default, "PNG")
    at_level = bytes_io.BytesIO()
    image.save(at_level, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    assert PNG_COMPRESS_LEVEL != 6
    assert written.read_bytes() == at_level.getvalue() != default.getvalue()
    assert np.array_equal(np.asarray(Image.open(written)), np.asarray(image))


# Reduced decoding for work that reduces the picture anyway (index: draft_side=1024)


def test_a_drafted_jpeg_is_decoded_reduced_and_keeps_its_true_size_and_facts(tmp_path, photo):
    source = tmp_path / "big.jpg"
    photo.resize((1800, 1200), Image.BICUBIC).save(source, quality=85)
    full = load(source, history=False)
    drafted = load(source, history=False, draft_side=1024)
    assert full.size == full.true_size == (1800, 1200) and full.full_size is None
    assert drafted.size == (900, 600)  # decoded at half scale by libjpeg
    assert drafted.true_size == drafted.full_size == (1800, 1200)
    assert drafted.format == "JPEG" and drafted.jpeg.quality == full.jpeg.quality == 85
    reduced = np.asarray(full.image.reduce(2), dtype=float)
    assert np.abs(np.asarray(drafted.image, dtype=float) - reduced).mean() < 2  # levels of 255


def test_draft_never_reduces_more_than_the_whole_factor_of_the_work(tmp_path, photo):
    for size, decoded in [((1024, 683), (1024, 683)), ((1100, 733), (550, 367)), ((2100, 1400), (1050, 700)),
                          ((4200, 2800), (1050, 700)), ((9000, 600), (1125, 75))]:
        source = tmp_path / f"{size[0]}.jpg"
        photo.resize(size).save(source, quality=90)
        picture = load(source, history=False, draft_side=1024)
        assert picture.size == decoded and picture.true_size == size, size


def test_a_drafted_exif_turned_jpeg_keeps_its_upright_size(tmp_path):
    array = np.zeros((1000, 2400, 3), dtype=np.uint8)
    array[:, :1200] = 255  # left half white
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # rotate 90° clockwise to display
    source = tmp_path / "turned.jpg"
    Image.fromarray(array).save(source, quality=90, exif=exif)
    picture = load(source, history=False, draft_side=1024)
    assert picture.size == (500, 1200) and picture.true_size == (1000, 2400)  # upright, as without draft
    assert load(source).size == picture.true_size
    upright = np.asarray(picture.image.convert("L"), dtype=float)
    assert upright[:550].mean() > 200 and upright[650:].mean() < 50  # white half on top
    assert picture.orientation == 6 and Image.Exif().load(picture.exif) is None


def test_only_single_frame_jpegs_are_drafted(tmp_path, photo):
    big = photo.resize((2400, 1600))
    for name in ("a.png", "a.webp"):
        big.save(tmp_path / name)
        picture = load(tmp_path / name, draft_side=1024)
        assert picture.size == (2400, 1600) and picture.full_size is None, name


def test_a_loaded_picture_is_its_own_after_the_file_is_closed(tmp_path, photo):
    """The loader keeps the decoded pixels rather than a copy: they must stay usable and editable."""
    source = tmp_path / "a.jpg"
    photo.save(source, quality=90)
    first, second = load(source), load(source)
    first.image.paste((255, 0, 0), (0, 0, 10, 10))
    assert first.image.getpixel((5, 5)) == (255, 0, 0) and second.image.getpixel((5, 5)) != (255, 0, 0)
    assert np.asarray(second.image).shape == (photo.height, photo.width, 3)
