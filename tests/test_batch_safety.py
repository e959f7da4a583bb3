"""Nothing lost, nothing silent: how the image commands plan, name, skip and
report their outputs, refuse what cannot apply, and handle tiny pictures."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from helpers import jpeg_bytes
from pixrescue.cli import main
from pixrescue.runner import run_tiled


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def small(photo):
    return photo.resize((64, 48))


def test_two_inputs_never_write_one_output_nor_replace_each_other(tmp_path, small):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(jpeg_bytes(small, 30))
    small.save(folder / "a.png")
    originals = {name: (folder / name).read_bytes() for name in ("a.jpg", "a.png")}
    result = run("upscale", "-m", "nearest", folder, "-o", folder, "--overwrite")
    assert result.exit_code == 0, result.output
    for name, content in originals.items():
        assert (folder / name).read_bytes() == content
    # Written among the inputs: named as beside them (a.x2.png for both), then apart.
    assert files(folder) == ["a.jpg", "a.jpg.x2.png", "a.png", "a.png.x2.png"]
    assert Image.open(folder / "a.jpg.x2.png").size == Image.open(folder / "a.png.x2.png").size == (128, 96)
    # Run again into the same folder: its own outputs are not inputs, and --skip-existing leaves them.
    again = run("upscale", "-m", "nearest", folder, "-o", folder, "--skip-existing")
    assert again.exit_code == 0 and "2 skipped" in again.output
    assert files(folder) == ["a.jpg", "a.jpg.x2.png", "a.png", "a.png.x2.png"]
    # Into another folder they are named apart by their full names.
    assert run("upscale", "-m", "nearest", folder, "-o", tmp_path / "out").exit_code == 0
    assert files(tmp_path / "out") == ["a.jpg.png", "a.png.png"]


def test_an_output_folder_that_holds_the_input_folder_takes_every_input(tmp_path, small, monkeypatch):
    (tmp_path / "photos" / "sub").mkdir(parents=True)
    (tmp_path / "photos" / "sub" / "x.jpg").write_bytes(jpeg_bytes(small, 20))
    result = run("fix", tmp_path / "photos" / "sub", "-o", tmp_path / "photos")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "photos" / "x.png").exists()
    monkeypatch.chdir(tmp_path / "photos")
    assert run("fix", "sub", "-o", ".", "--overwrite").exit_code == 0


def test_an_output_that_is_another_input_is_refused_before_any_write(tmp_path, small):
    small.save(tmp_path / "b.png")
    small.save(tmp_path / "b.fixed.png")
    before = files(tmp_path)
    result = run("fix", tmp_path / "b.png", tmp_path / "b.fixed.png", "--overwrite", "--strength", "30")
    assert result.exit_code == 2
    assert "also reads" in result.output
    assert files(tmp_path) == before


def test_reruns_never_take_their_own_outputs_and_skip_existing_continues(tmp_path, small):
    folder = tmp_path / "d"
    (folder / "sub").mkdir(parents=True)
    (folder / "x.jpg").write_bytes(jpeg_bytes(small, 20))
    (folder / "sub" / "y.jpg").write_bytes(jpeg_bytes(small, 20))
    assert run("fix", folder).exit_code == 0
    assert (folder / "x.fixed.png").exists()
    again = run("fix", folder)
    assert again.exit_code == 1 and "exists" in again.output  # x.fixed.png is an output, not an input
    assert not list(folder.glob("*.fixed.fixed*"))
    skipped = run("fix", folder, "--skip-existing")
    assert skipped.exit_code == 0
    assert "1 skipped" in skipped.output and "skipped: " in skipped.output
    # An output folder inside the searched one is not searched.
    assert run("fix", folder, "-r", "-o", folder / "out").exit_code == 0
    assert run("fix", folder, "-r", "-o", folder / "out", "--skip-existing").exit_code == 0
    assert files(folder / "out") == ["sub/y.png", "x.png"]


def test_a_table_the_model_never_saw_is_refused_not_turned_black(tmp_path, small):
    data = bytearray(jpeg_bytes(small, 50))
    start = data.index(b"\xff\xdb") + 5  # the first DQT segment's 64 steps
    data[start : start + 64] = bytes(64)
    (tmp_path / "zero.jpg").write_bytes(bytes(data))
    result = run("fix", tmp_path / "zero.jpg", "-o", tmp_path / "out.png")
    assert result.exit_code == 1
    assert "step of 0" in result.output
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("command,model", [("fix", "fsrcnn.sr-x2"), ("fix", "edsr.sr-x234"), ("fix", "irn.x2"),
                                           ("fix", "embedcnn.thumb64"), ("upscale", "irn.x2"),
                                           ("upscale", "qgunet.jpeg-blind"), ("expand", "edsr.sr-x234")])
def test_each_command_takes_only_models_of_its_own_task(tmp_path, small, command, model):
    small.save(tmp_path / "in.png")
    result = run(command, tmp_path / "in.png", "-o", tmp_path / "out.png", "-m", model)
    assert result.exit_code == 2
    assert model in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("name", ["out.xyz", "out.avif", "out.heic"])
def test_an_unknown_output_extension_is_refused_not_made_a_folder(tmp_path, small, name):
    small.save(tmp_path / "in.png")
    result = run("fix", tmp_path / "in.png", "-o", tmp_path / name, "--strength", "30")
    assert result.exit_code == 2 and "extension" in result.output
    assert not (tmp_path / name).exists()


def test_a_folder_output_may_be_named_with_a_separator(tmp_path, small):
    small.save(tmp_path / "in.png")
    result = run("fix", tmp_path / "in.png", "-o", f"{tmp_path / 'v1.2'}/", "--strength", "30")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "v1.2" / "in.png").exists()


@pytest.mark.parametrize("options,message", [(["--format", "jpg"], "--format"), (["--quality", "50"], "--quality"),
                                             (["--background", "nocolour"], "--background")])
def test_options_that_cannot_apply_are_usage_errors_before_any_work(tmp_path, small, options, message):
    small.save(tmp_path / "in.png")
    result = run("fix", tmp_path / "in.png", "-o", tmp_path / "out.png", *options)
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (1, 7), (3, 2), (5, 1)])
def test_pictures_of_one_or_two_pixels_go_through_every_command(tmp_path, size):
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    (tmp_path / "in.jpg").write_bytes(jpeg_bytes(image, 10))
    image.save(tmp_path / "in.png")
    for args in (["fix", tmp_path / "in.jpg", "-o", tmp_path / "f.png"],
                 ["fix", tmp_path / "in.png", "-o", tmp_path / "s.png", "--strength", "10"],
                 ["upscale", tmp_path / "in.jpg", "-o", tmp_path / "u.png", "-s", "3"],
                 ["upscale", tmp_path / "in.png", "-o", tmp_path / "v.png", "-m", "vdsr", "-s", "2"],
                 ["shrink", tmp_path / "in.png", "-o", tmp_path / "small.png", "-s", "4"],
                 ["expand", tmp_path / "small.png", "-o", tmp_path / "e.png"]):
        result = run(*args)
        assert result.exit_code == 0, (args, result.output)
    assert Image.open(tmp_path / "f.png").size == size
    assert Image.open(tmp_path / "s.png").size == size
    assert Image.open(tmp_path / "u.png").size == (size[0] * 3, size[1] * 3)
    assert Image.open(tmp_path / "e.png").size == size


def test_the_summary_says_what_happened_to_each_file(tmp_path, photo):
    folder = tmp_path / "d"
    folder.mkdir()
    photo.save(folder / "clean.png")  # never compressed: left as it is
    (folder / "meme.jpg").write_bytes(jpeg_bytes(photo, 15))
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    result = run("fix", folder, "-o", tmp_path / "out")
    assert result.exit_code == 1
    summary = result.output.strip().splitlines()
    assert "fixed 1 image, 1 left unchanged, 1 failed" in summary
    assert any(line.startswith("  unchanged: ") and "clean.png" in line and "estimated quality" in line
               for line in summary)
    assert any(line.startswith("  failed: ") and "broken.jpg" in line for line in summary)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "clean.png")), np.asarray(photo))


def test_a_model_the_user_trained_runs_from_its_file(tmp_path, gray_photo, photo):
    clean = tmp_path / "clean"
    clean.mkdir()
    for i, box in enumerate([(0, 0, 256, 256), (256, 0, 512, 256), (0, 256, 256, 512), (256, 256, 512, 512)] * 5):
        gray_photo.crop(box).rotate(90 * (i % 4)).save(clean / f"{i}.png")
    trained = run("train", "srcnn.jpeg-q10-gray", "--data", clean, "--out", tmp_path / "mine",
                  "--run-dir", tmp_path / "run", "--steps", "2", "--batch", "2", "--patch", "32")
    assert trained.exit_code == 0, trained.output
    weights = tmp_path / "mine" / "srcnn.jpeg-q10-gray.safetensors"
    (tmp_path / "in.jpg").write_bytes(jpeg_bytes(photo.resize((64, 48)), 10))
    result = run("fix", tmp_path / "in.jpg", "-o", tmp_path / "out.png", "-m", weights)
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "out.png").size == (64, 48)
    # A weights file without its card, of another model's shape, or a pickle: one line each.
    lonely = tmp_path / "lonely.safetensors"
    lonely.write_bytes(weights.read_bytes())
    assert "model card" in run("fix", tmp_path / "in.jpg", "-m", lonely).output
    other = tmp_path / "other.safetensors"
    other.write_bytes(weights.read_bytes())
    (tmp_path / "other.json").write_text(json.dumps({"name": "resnet18.jpeg-q10-gray"}))
    result = run("fix", tmp_path / "in.jpg", "-m", other)
    assert result.exit_code == 2 and "not weights of resnet18.jpeg-q10-gray" in result.output
    (tmp_path / "model.pt").write_bytes(b"pickle")
    assert run("fix", tmp_path / "in.jpg", "-m", tmp_path / "model.pt").exit_code == 2


def test_top_level_help_keeps_whole_sentences_and_every_option_is_explained():
    result = run("--help")
    commands = result.output.split("Commands:")[1]
    assert "..." not in commands
    for name, command in main.commands.items():
        for param in command.params:
            if param.param_type_name == "option":
                assert param.help, f"{name} {param.opts} has no help text"


class _Recorder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append((x.dtype, tuple(x.shape[-2:])))
        return 1 - x


def test_eight_bit_pictures_become_floats_one_tile_at_a_time():
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (1, 3, 300, 500), dtype=np.uint8))
    model = _Recorder()
    out = run_tiled(model, x, margin=8, tile=64)
    assert out.dtype == torch.uint8 and out.shape == x.shape
    assert all(dtype == torch.float32 and max(shape) <= 64 + 16 for dtype, shape in model.seen)
    assert torch.equal(out, 255 - x)
