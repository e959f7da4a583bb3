"""`pixrescue upscale` and `pixrescue.upscale`: exact sizes, fidelity, JPEG-aware deblocking."""

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from helpers import jpeg_bytes, psnr
from pixrescue import upscale
from pixrescue.cli import main
from pixrescue.imaging.jpeg import round_trip
from pixrescue.tasks.upscale import INTERPOLATIONS, upscale_frame


def run(*args):
    result = CliRunner().invoke(main, ["upscale", *map(str, args)])
    assert "Traceback" not in result.output
    return result


@pytest.mark.parametrize("method", list(INTERPOLATIONS))
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_output_is_exactly_scale_times_the_input(photo, method, scale):
    small = photo.resize((75, 50))
    assert upscale(small, scale, method).size == (75 * scale, 50 * scale)


def test_bicubic_beats_nearest_on_a_real_photograph(photo):
    hr = photo.crop((0, 0, 448, 300))
    lr = hr.resize((224, 150), Image.BICUBIC)
    assert psnr(hr, upscale(lr, 2, "bicubic")) > psnr(hr, upscale(lr, 2, "nearest")) + 0.5


@pytest.mark.quality
def test_deblocking_first_helps_a_compressed_small_jpeg(photo):
    hr = photo.crop((0, 0, 448, 296))
    degraded, info = round_trip(hr.resize((224, 148), Image.BICUBIC), 20)
    plain = upscale_frame(degraded, 2, "bicubic")
    aware = upscale_frame(degraded, 2, "bicubic", deblock=True, jpeg=info)
    assert psnr(hr, aware) > psnr(hr, plain)


def test_cli_deblocks_jpeg_inputs_by_default_and_keeps_alpha(photo, tmp_path):
    source = tmp_path / "small.jpg"
    source.write_bytes(jpeg_bytes(photo.resize((90, 60)), 20))
    assert run(source, "-s", "2", "-o", tmp_path / "auto.png").exit_code == 0
    assert run(source, "-s", "2", "--no-deblock", "-o", tmp_path / "plain.png").exit_code == 0
    auto, plain = (np.asarray(Image.open(tmp_path / n), dtype=int) for n in ("auto.png", "plain.png"))
    assert auto.shape == (120, 180, 3) and np.abs(auto - plain).max() > 0

    rgba = photo.resize((40, 30)).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((40, 30)))
    rgba.save(tmp_path / "a.png")
    assert run(tmp_path / "a.png", "-s", "3", "-m", "lanczos").exit_code == 0
    out = Image.open(tmp_path / "a.x3.png")
    assert out.mode == "RGBA" and out.size == (120, 90)
    assert abs(np.asarray(out.getchannel("A"), dtype=float).mean() - np.asarray(rgba.getchannel("A")).mean()) < 3


def test_animation_stays_animated(photo, tmp_path):
    frames = [photo.resize((32, 24)).rotate(10 * i).convert("P") for i in range(3)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=[40, 80, 120], loop=0)
    assert run(tmp_path / "a.gif", "-s", "2", "-o", tmp_path / "b.gif").exit_code == 0
    out = Image.open(tmp_path / "b.gif")
    assert out.n_frames == 3 and out.size == (64, 48)


def test_bad_scale_and_bad_file_fail_cleanly(photo, tmp_path):
    photo.save(tmp_path / "a.png")
    assert run(tmp_path / "a.png", "-s", "5").exit_code == 2
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    result = run(tmp_path / "bad.jpg", "-o", tmp_path / "out.png")
    assert result.exit_code == 1 and "bad.jpg" in result.output and not (tmp_path / "out.png").exists()


def test_an_output_over_max_pixels_is_refused_before_any_work(photo, tmp_path):
    photo.resize((100, 80)).save(tmp_path / "a.png")
    photo.resize((40, 30)).save(tmp_path / "b.png")
    result = run(tmp_path / "a.png", tmp_path / "b.png", "-s", "4", "-m", "bicubic", "--max-pixels", 20000)
    assert result.exit_code == 1 and "over the limit of 20,000" in result.output and "400x320" in result.output
    assert not (tmp_path / "a.x4.png").exists() and Image.open(tmp_path / "b.x4.png").size == (160, 120)
