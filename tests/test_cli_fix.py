"""`pixrescue fix`: file handling, fidelity through restoration, bad input."""

import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageCms

from helpers import jpeg_bytes, png_header_only, watch_network_calls
from pixrescue import load
from pixrescue.cli import main
from pixrescue.imaging.projection import DCT, rgb_to_ycbcr


def fix(*args):
    result = CliRunner().invoke(main, ["fix", *map(str, args)])
    assert "Traceback" not in result.output
    return result


def test_one_file_to_one_file(write_jpeg, photo, tmp_path):
    source = write_jpeg(photo)
    result = fix(source, "-o", tmp_path / "out.png")
    assert result.exit_code == 0, result.output
    out = Image.open(tmp_path / "out.png")
    assert out.size == photo.size and out.mode == "RGB"
    assert "fixed 1 image" in result.output


def test_default_output_is_beside_the_input(write_jpeg, photo):
    source = write_jpeg(photo, name="cat.jpg")
    assert fix(source).exit_code == 0
    assert (source.parent / "cat.fixed.png").exists()


def test_folder_to_folder_recursive_keeps_subfolders(photo, tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "a.jpg").write_bytes(jpeg_bytes(photo.resize((64, 48)), 10))
    (tmp_path / "in" / "sub" / "b.jpg").write_bytes(jpeg_bytes(photo.resize((48, 64)), 10))
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    result = fix(tmp_path / "in", "-o", tmp_path / "out", "--recursive")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "a.png").exists()
    assert (tmp_path / "out" / "sub" / "b.png").exists()
    assert "fixed 2 images" in result.output


def test_existing_output_and_input_are_never_overwritten_unless_asked(write_jpeg, photo, tmp_path):
    source = write_jpeg(photo.resize((64, 48)))
    target = tmp_path / "out.png"
    target.write_bytes(b"precious")
    result = fix(source, "-o", target)
    assert result.exit_code != 0 and "exists" in result.output
    assert target.read_bytes() == b"precious"
    original = source.read_bytes()
    result = fix(source, "-o", source)
    assert result.exit_code != 0
    assert source.read_bytes() == original
    assert fix(source, "-o", target, "--overwrite").exit_code == 0
    assert Image.open(target).size == (64, 48)


def test_passes_change_the_result(write_jpeg, photo, tmp_path):
    source = write_jpeg(photo.resize((96, 64)))
    fix(source, "-o", tmp_path / "one.png")
    fix(source, "-o", tmp_path / "two.png", "--passes", "2")
    one = np.asarray(Image.open(tmp_path / "one.png"), dtype=int)
    two = np.asarray(Image.open(tmp_path / "two.png"), dtype=int)
    assert np.abs(one - two).max() > 0


def test_unknown_model_is_a_clear_error(write_jpeg, photo, tmp_path):
    result = fix(write_jpeg(photo), "-o", tmp_path / "x.png", "--model", "nope.model")
    assert result.exit_code != 0 and "unknown model" in result.output
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("model", ["srcnn.jpeg-q10-gray", "resnet18.jpeg-q10-gray"])
def test_models_can_be_chosen(write_jpeg, photo, tmp_path, model):
    source = write_jpeg(photo.resize((64, 48)))
    assert fix(source, "-o", tmp_path / "x.png", "--model", model).exit_code == 0
    assert fix(source, "-o", tmp_path / "default.png").exit_code == 0
    chosen = np.asarray(Image.open(tmp_path / "x.png"), dtype=int)
    default = np.asarray(Image.open(tmp_path / "default.png"), dtype=int)
    assert np.abs(chosen - default).max() > 0


def luma_outside_intervals(pixels, decoded, table):
    """How far each 8x8 DCT coefficient of the luma of ``pixels`` (RGB, sides
    multiples of 8) lies outside the quantization interval that the JPEG whose
    decoded pixels are ``decoded`` proves (``table``: its luma steps)."""
    steps = np.asarray(table, dtype=float).reshape(8, 8)

    def coefficients(rgb):
        luma = rgb_to_ycbcr(np.asarray(rgb, dtype=float))[..., 0] - 128
        h, w = luma.shape
        return DCT @ luma.reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3) @ DCT.T

    stored = np.round(coefficients(decoded) / steps) * steps
    return np.clip(np.abs(coefficients(pixels) - stored) - steps / 2, 0, None)


def test_strength_and_projection_options(write_jpeg, photo, tmp_path):
    source = write_jpeg(photo.resize((96, 64)), quality=60)
    outputs = {}
    for name, options in {"plain": ["--no-project"], "strong": ["--strength", "10", "--no-project"],
                          "projected": ["--strength", "10", "--project"]}.items():
        assert fix(source, "-o", tmp_path / f"{name}.png", *options).exit_code == 0
        outputs[name] = np.asarray(Image.open(tmp_path / f"{name}.png"), dtype=int)
    assert np.abs(outputs["plain"] - outputs["strong"]).max() > 0
    # Told quality 10, the network smooths away detail the q60 file proves; projection puts the
    # luma back into the file's intervals (up to the rounding of the 8-bit output: 1).
    decoded, table = np.asarray(Image.open(source).convert("RGB")), load(source).jpeg.quantization[0]
    strong = luma_outside_intervals(outputs["strong"], decoded, table)
    projected = luma_outside_intervals(outputs["projected"], decoded, table)
    assert (strong > 1).sum() > 100
    assert (projected > 1).sum() <= (strong > 1).sum() / 50
    result = fix(source, "-o", tmp_path / "seed.png", "--model", "srcnn.jpeg-q10-gray", "--strength", "10")
    assert result.exit_code == 2 and "--strength" in result.output and not (tmp_path / "seed.png").exists()


# Fidelity: what the file holds survives restoration.

def test_alpha_survives_untouched(photo, tmp_path):
    rgba = photo.resize((80, 60)).convert("RGBA")
    alpha = np.tile(np.linspace(0, 255, 80, dtype=np.uint8), (60, 1))
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(tmp_path / "a.png")
    assert fix(tmp_path / "a.png", "-o", tmp_path / "b.png").exit_code == 0
    out = Image.open(tmp_path / "b.png")
    assert out.mode == "RGBA"
    assert np.array_equal(np.asarray(out.getchannel("A")), alpha)


def test_jpeg_output_with_alpha_needs_a_background(photo, tmp_path):
    photo.resize((40, 30)).convert("RGBA").save(tmp_path / "a.png")
    result = fix(tmp_path / "a.png", "-o", tmp_path / "b.jpg")
    assert result.exit_code != 0 and "--background" in result.output
    assert not (tmp_path / "b.jpg").exists()
    assert fix(tmp_path / "a.png", "-o", tmp_path / "b.jpg", "--background", "white").exit_code == 0


def test_icc_and_exif_orientation_survive(photo, tmp_path):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 8  # rotate 90° counter-clockwise to display
    source = tmp_path / "a.jpg"
    photo.resize((64, 48)).save(source, quality=10, icc_profile=profile, exif=exif)
    assert fix(source, "-o", tmp_path / "b.png").exit_code == 0
    out = Image.open(tmp_path / "b.png")
    assert out.size == (48, 64)  # upright
    assert out.info.get("icc_profile") == profile
    assert out.getexif().get(0x0112) == 1


def test_grayscale_stays_grayscale(gray_photo, write_jpeg, tmp_path):
    assert fix(write_jpeg(gray_photo.resize((64, 64))), "-o", tmp_path / "g.png").exit_code == 0
    assert Image.open(tmp_path / "g.png").mode == "L"


def test_animated_gif_keeps_frames_and_durations(tmp_path, photo):
    frames = [photo.resize((48, 32)).rotate(10 * i).convert("P") for i in range(3)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=[50, 100, 150], loop=0)
    assert fix(tmp_path / "a.gif", "-o", tmp_path / "b.gif").exit_code == 0
    out = Image.open(tmp_path / "b.gif")
    assert out.n_frames == 3
    durations = []
    for i in range(3):
        out.seek(i)
        durations.append(out.info["duration"])
    assert durations == [50, 100, 150]


# Bad input: one line naming the file, no traceback, nothing half-written, the batch goes on.

def bad_files(tmp_path, photo):
    full = jpeg_bytes(photo, 60)
    files = {
        "empty.jpg": b"",
        "truncated.jpg": full[: len(full) // 3],
        "cut-with-end.jpg": full[: len(full) // 2] + b"\xff\xd9",  # Pillow alone fills the rest with grey
        "text.jpg": b"this is not a picture\n",
        "bomb.png": png_header_only(30000, 30000),
    }
    for name, payload in files.items():
        (tmp_path / "in" / name).write_bytes(payload)
    return files


def test_bad_files_fail_one_by_one_and_the_batch_goes_on(tmp_path, photo):
    (tmp_path / "in").mkdir()
    bad = bad_files(tmp_path, photo)
    (tmp_path / "in" / "good.jpg").write_bytes(jpeg_bytes(photo.resize((64, 48)), 10))
    result = fix(tmp_path / "in", "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.png"]
    for name in bad:
        lines = [line for line in result.output.splitlines() if line.startswith(f"error: {tmp_path / 'in' / name}")]
        assert len(lines) == 1, (name, result.output)
    assert "fixed 1 image, 5 failed" in result.output


def test_unreadable_path_and_empty_folder(tmp_path):
    result = fix(tmp_path / "missing.jpg", "-o", tmp_path / "out")
    assert result.exit_code != 0 and "missing.jpg" in result.output
    (tmp_path / "empty").mkdir()
    result = fix(tmp_path / "empty", "-o", tmp_path / "out")
    assert result.exit_code != 0 and "no images found" in result.output


def test_python_dash_m_runs_without_traceback(tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"garbage")
    done = subprocess.run([sys.executable, "-m", "pixrescue", "fix", str(tmp_path / "x.jpg")],
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"error: {tmp_path / 'x.jpg'}: not an image file" in done.stderr
    assert not list(tmp_path.glob("x.fixed*"))


def test_in_a_pipe_errors_are_whole_lines_without_a_progress_bar(tmp_path):
    (tmp_path / "in").mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (tmp_path / "in" / name).write_bytes(b"garbage")
    done = subprocess.run([sys.executable, "-m", "pixrescue", "fix", str(tmp_path / "in")],
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert "\r" not in done.stderr and "image/s" not in done.stderr, done.stderr
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        assert f"error: {tmp_path / 'in' / name}: not an image file, or a format that is not supported" \
            in done.stderr.splitlines()


def test_overwrite_and_skip_existing_together_are_a_usage_error(tmp_path, photo):
    (tmp_path / "a.jpg").write_bytes(jpeg_bytes(photo, 30))
    result = fix(tmp_path / "a.jpg", "-o", tmp_path / "a.png", "--overwrite", "--skip-existing")
    assert result.exit_code == 2 and "choose one" in result.output
    assert not (tmp_path / "a.png").exists()


def test_ctrl_c_ends_with_status_130_and_no_output(tmp_path, photo, monkeypatch):
    import pixrescue

    (tmp_path / "a.jpg").write_bytes(jpeg_bytes(photo, 30))

    def pressed_ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pixrescue, "restorer", lambda *args, **kwargs: pressed_ctrl_c)
    result = fix(tmp_path / "a.jpg", "-o", tmp_path / "out.png")
    assert result.exit_code == 130 and "interrupted" in result.output and "Aborted" not in result.output
    assert not (tmp_path / "out.png").exists()


def test_models_lists_the_registry():
    result = CliRunner().invoke(main, ["models"])
    assert result.exit_code == 0
    assert "qgunet.jpeg-blind (default)" in result.output
    assert "srcnn.jpeg-q10-gray" in result.output


# The API the command runs.

def test_the_api_refuses_strength_for_a_model_of_one_quality(photo):
    import pixrescue

    for call in (lambda: pixrescue.restore(photo.resize((32, 32)), model="srcnn.jpeg-q10-gray", strength=10),
                 lambda: pixrescue.restorer(model="srcnn.jpeg-q10-gray", strength=10)):
        with pytest.raises(ValueError, match="--strength needs a blind model"):
            call()


def test_the_api_restores_every_frame_of_a_picture_as_the_first_from_a_path(tmp_path, photo):
    import pixrescue

    frames = [photo.resize((48, 32)).rotate(10 * i) for i in range(2)]
    frames[0].save(tmp_path / "a.webp", save_all=True, append_images=frames[1:], duration=[70, 90], quality=20)
    picture = pixrescue.load(tmp_path / "a.webp")
    restored = pixrescue.restorer()(picture)
    assert len(restored.frames) == 2 and restored.durations == picture.durations
    assert np.array_equal(np.asarray(restored.frames[0]), np.asarray(pixrescue.restore(tmp_path / "a.webp")))
    assert not np.array_equal(np.asarray(restored.frames[1]), np.asarray(picture.frames[1]))


@pytest.mark.parametrize("verb", ["fix", "upscale", "index"])
def test_threads_reach_the_network(tmp_path, monkeypatch, verb):
    """--threads sets the thread count the networks run with (observed inside the network call)."""
    import torch

    seen = watch_network_calls(monkeypatch, torch.get_num_threads)
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jpg").write_bytes(jpeg_bytes(Image.new("RGB", (40, 32), (200, 90, 30)), 20))
    args = {"fix": ["fix", str(tmp_path / "in" / "a.jpg"), "-o", str(tmp_path / "a.png")],
            "upscale": ["upscale", str(tmp_path / "in" / "a.jpg"), "-o", str(tmp_path / "a.png"), "--no-deblock"],
            "index": ["index", str(tmp_path / "in")]}[verb]
    try:
        result = CliRunner().invoke(main, [*args, "--threads", str(target)])
        assert result.exit_code == 0, result.output
        assert seen and set(seen) == {target}
    finally:
        torch.set_num_threads(before)
    assert CliRunner().invoke(main, [*args[:2], "--threads", "0"]).exit_code == 2


def test_index_lets_idle_network_threads_sleep(tmp_path):
    """OpenMP reads OMP_WAIT_POLICY when torch loads: index sets it first (unless the user did)."""
    (tmp_path / "in").mkdir()
    Image.new("RGB", (40, 32), (200, 90, 30)).save(tmp_path / "in" / "a.png")
    script = ("import os, sys; from pixrescue.cli import main\n"
              "try:\n    main(sys.argv[1:])\n"
              "except SystemExit:\n    pass\n"
              "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)")
    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    for args, expected in ((["index", str(tmp_path / "in"), "--threads", "2"], "PASSIVE True"), (["models"], "None")):
        found = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                               timeout=120)
        assert found.stdout.split("\n")[-2].startswith(expected), found.stdout + found.stderr


def test_index_runs_its_networks_on_one_thread_unless_told(tmp_path, monkeypatch):
    import torch

    seen = watch_network_calls(monkeypatch, torch.get_num_threads)
    before = torch.get_num_threads()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jpg").write_bytes(jpeg_bytes(Image.new("RGB", (40, 32), (200, 90, 30)), 20))
    try:
        torch.set_num_threads(2)
        result = CliRunner().invoke(main, ["index", str(tmp_path / "in")])
        assert result.exit_code == 0, result.output
        assert seen and set(seen) == {1}
    finally:
        torch.set_num_threads(before)
