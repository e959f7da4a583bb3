"""The trained upscalers: each beats bicubic (and its golden value), sizes are
exact, tiling changes nothing, and `-m` finds the model for the scale."""

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from golden import assert_golden, sr_gain
from pixrescue import upscale, zoo
from pixrescue.cli import main
from pixrescue.tasks.upscale import resolve_method, upscale_frame, upscale_models

SHIPPED = [(name, scale) for name in upscale_models() if zoo.weights_path(name).exists()
           for scale in zoo.get_spec(name).scales]
EXPECTED = {"edsr.sr-x234", "fsrcnn.sr-x2", "srcnn.sr-x2", "drcn.sr-x2", "vdsr.sr-x234"}


def test_the_default_and_the_seed_upscalers_ship():
    assert {name for name, _ in SHIPPED} >= EXPECTED | {zoo.DEFAULT_MODEL["upscale"]}


@pytest.mark.parametrize("name", sorted({name for name, _ in SHIPPED}))
def test_cards_say_what_the_network_sees(name):
    about = zoo.load_card(name)
    assert about["task"] == "super-resolution" and list(about["scale"]) == list(zoo.get_spec(name).scales)
    assert about["colour"]  # says whether the network sees Y or RGB


@pytest.mark.quality
@pytest.mark.parametrize("name,scale", SHIPPED)
def test_each_model_beats_bicubic(name, scale):
    """Floor: bicubic measured here (Y-PSNR on the photograph); and golden."""
    gain = sr_gain(name, scale)
    assert gain > 0
    assert_golden(f"{name}/x{scale}_gain_over_bicubic", gain)


@pytest.mark.parametrize("name", sorted({name for name, _ in SHIPPED}))
def test_tiled_output_equals_untiled(photo, name):
    small = photo.resize((150, 100))
    whole = np.asarray(upscale_frame(small, 2, name, tile=None), dtype=int)
    tiled = np.asarray(upscale_frame(small, 2, name, tile=40), dtype=int)
    assert whole.shape == (200, 300, 3)
    assert np.abs(whole - tiled).max() <= 1


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_default_output_is_exactly_scale_times_odd_sizes(photo, scale):
    small = photo.resize((37, 23))
    assert upscale(small, scale).size == (37 * scale, 23 * scale)
    gray = upscale(small.convert("L"), scale)
    assert gray.mode == "L" and gray.size == (37 * scale, 23 * scale)


def test_methods_resolve_by_architecture_and_refuse_unknown_scales():
    assert resolve_method("edsr", 3) == "edsr.sr-x234"
    assert resolve_method("vdsr", 4) == "vdsr.sr-x234"
    assert resolve_method(None, 4) == zoo.DEFAULT_MODEL["upscale"]
    assert resolve_method("lanczos", 2) == "lanczos"
    with pytest.raises(ValueError, match="x2 only"):
        resolve_method("srcnn", 3)
    with pytest.raises(ValueError, match="unknown upscaling method"):
        resolve_method("waifu", 2)


def test_cli_uses_the_default_network_keeps_alpha_and_refuses_a_wrong_scale(photo, tmp_path):
    rgba = photo.resize((60, 40)).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((60, 40)))
    rgba.save(tmp_path / "a.png")
    result = CliRunner().invoke(main, ["upscale", str(tmp_path / "a.png"), "-s", "4"])
    assert result.exit_code == 0, result.output
    out = Image.open(tmp_path / "a.x4.png")
    assert out.mode == "RGBA" and out.size == (240, 160)
    assert np.array_equal(np.asarray(out.getchannel("A")),
                          np.asarray(rgba.getchannel("A").resize((240, 160), Image.BICUBIC)))
    result = CliRunner().invoke(main, ["upscale", str(tmp_path / "a.png"), "-s", "3", "-m", "fsrcnn"])
    assert result.exit_code == 2 and "x2 only" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "a.x3.png").exists()


def test_models_lists_every_upscaler_and_one_without_weights_fails_cleanly(photo, tmp_path, monkeypatch):
    result = CliRunner().invoke(main, ["models"])
    for name in upscale_models():
        assert name in result.output
    photo.save(tmp_path / "a.png")
    monkeypatch.setitem(zoo.MODELS, "vdsr.sr-missing", zoo.ModelSpec("vdsr.sr-missing", task="upscale",
                                                                      scales=(2, 3, 4), colour="y",
                                                                      enlarged_input=True))
    result = CliRunner().invoke(main, ["upscale", str(tmp_path / "a.png"), "-m", "vdsr.sr-missing"])
    assert result.exit_code == 2 and "no weights" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "a.x2.png").exists()
