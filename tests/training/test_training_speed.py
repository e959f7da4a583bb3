"""Training at the machine's speed: bf16 autocast agrees with fp32, batches do
not depend on the sample workers, a corrupt picture is skipped, SIGTERM saves
a checkpoint that the next run resumes from, and the speed benchmark runs."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from pixrescue import zoo
from pixrescue.training import machine
from pixrescue.training.data import SampleStream, batch_rng, load_clean_images
from pixrescue.training.recipes.jpeg import SeedJpegRecipe
from pixrescue.training.recipes.rescaling import RescalingRecipe
from pixrescue.training.recipes.super_resolution import SuperResolutionRecipe
from pixrescue.training.train import TrainConfig, _learning_rate, fit_steps, train_step

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clean")
    for name in ("camera", "coins", "astronaut", "coffee", "chelsea"):
        Image.fromarray(getattr(data, name)()).save(folder / f"{name}.png")
    return folder


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def test_a_bf16_step_and_an_fp32_step_on_the_same_batch_give_close_losses(clean):
    torch.set_num_threads(1)
    recipe = SeedJpegRecipe(TrainConfig(model="srcnn.jpeg-q10-gray", data=[str(clean)], patch=24))
    batch = recipe.sample(4, batch_rng(0, 0))
    torch.manual_seed(0)
    fresh = zoo.get_spec("srcnn.jpeg-q10-gray").build()
    losses, after = {}, {}
    for precision in ("fp32", "bf16"):
        model = copy.deepcopy(fresh)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        losses[precision] = float(train_step(model, optimizer, recipe, batch, "cpu", precision))
        after[precision] = model
    assert losses["fp32"] > 0
    assert abs(losses["bf16"] - losses["fp32"]) / losses["fp32"] < 0.03
    # The master weights stay fp32 and take nearly the same first step: Adam's first step moves each
    # weight by lr, up or down, so only weights with a gradient near 0 may go the other way.
    for (name, p32), p16 in zip(after["fp32"].named_parameters(), after["bf16"].parameters()):
        assert p16.dtype == torch.float32, name
        moved = (p16 - fresh.get_parameter(name)).detach()
        assert moved.abs().max() <= 1.01e-3, name
        assert (p16 - p32).abs().mean() < 1e-4, name


def test_batches_are_the_same_with_and_without_workers_and_after_a_resume(clean):
    recipes = [
        SeedJpegRecipe(TrainConfig(model="srcnn.jpeg-q10-gray", data=[str(clean)], patch=24)),
        SuperResolutionRecipe(TrainConfig(model="edsr.sr-x234", data=[str(clean)], patch=24, max_side=0)),
        RescalingRecipe(TrainConfig(model="irn.x2", data=[str(clean)], patch=24, max_side=0)),
    ]
    for recipe in recipes:
        with SampleStream(recipe, 3, seed=5, workers=0) as inline:
            expected = [next(inline) for _ in range(4)]
        with SampleStream(recipe, 3, seed=5, workers=2) as workers:
            got = [next(workers) for _ in range(4)]
        assert all(same(a, b) for a, b in zip(expected, got)), type(recipe).__name__
        assert not same(expected[0], expected[1])  # each step draws its own batch
        with SampleStream(recipe, 3, seed=5, start=2, workers=0) as resumed:
            assert same(next(resumed), expected[2])
        with SampleStream(recipe, 3, seed=6, workers=0) as other:
            assert not same(next(other), expected[0])


def test_an_unreadable_picture_is_skipped_with_a_warning_naming_it(tmp_path, capsys):
    Image.fromarray(data.camera()).save(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not a picture at all")
    whole = (tmp_path / "good.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[: len(whole) // 3])  # truncated
    images = load_clean_images([tmp_path], 320)
    assert len(images) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "skipped unreadable image" in line]
    assert len(lines) == 2
    assert any("broken.png" in line for line in lines) and any("cut.png" in line for line in lines)


def test_sigterm_saves_a_checkpoint_that_the_next_run_resumes_from(clean, tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, "-c", "from pixrescue.cli import main; main()", "train", "srcnn.jpeg-q10-gray",
               "--data", str(clean), "--out", str(tmp_path / "out"), "--run-dir", str(run), "--batch", "2",
               "--patch", "24", "--val-every", "100000", "--threads", "1", "--workers", "1",
               "--precision", "fp32"]  # the same on every processor, with or without bf16
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([*command, "--steps", "100000"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env, cwd=tmp_path)
    try:
        for line in process.stdout:
            if "training on" in line:
                break
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 128 + signal.SIGTERM, output
    assert "stopped by SIGTERM" in output
    state = torch.load(run / "checkpoint.pt", weights_only=True, map_location="cpu")
    stopped = state["step"]
    assert 0 < stopped < 100000
    zoo.get_spec("srcnn.jpeg-q10-gray").build().load_state_dict(state["model"])
    assert not (tmp_path / "out" / "srcnn.jpeg-q10-gray.safetensors").exists()  # stopped: only the checkpoint

    done = subprocess.run([*command, "--steps", str(stopped + 2)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"at step {stopped}" in done.stdout
    card = json.loads((tmp_path / "out" / "srcnn.jpeg-q10-gray.json").read_text())
    assert card["training"]["steps_done"] == stopped + 2
    first, second = card["training"]["runs"]
    assert (first["to_step"], second["from_step"]) == (stopped, stopped)
    for entry in (first, second):
        assert entry["cpu"] == machine.cpu_model() and entry["workers"] == 1 and entry["threads"] == 1
        assert entry["precision"] == "fp32" and entry["patches_per_second"] > 0
        assert entry["command"].startswith("pixrescue train srcnn.jpeg-q10-gray")


def test_bf16_is_chosen_only_where_the_hardware_has_it(monkeypatch):
    monkeypatch.setattr(machine, "_cpuinfo", lambda: {"model name": "Intel(R) Xeon(R) Platinum 8480+",
                                                      "flags": "fpu avx2 avx512f amx_bf16 amx_tile"})
    assert machine.cpu_has_bf16() and machine.resolve_precision("auto", "cpu") == "bf16"
    assert "Xeon" in machine.describe("cpu", "bf16", 4, 0)
    monkeypatch.setattr(machine, "_cpuinfo", lambda: {"model name": "AMD EPYC 7B13", "flags": "fpu avx2"})
    assert not machine.cpu_has_bf16() and machine.resolve_precision("auto", "cpu") == "fp32"
    assert machine.resolve_precision("bf16", "cpu") == "bf16"  # asked for: done, slowly
    if not torch.cuda.is_available():
        assert machine.resolve_device("auto") == "cpu"
        with pytest.raises(ValueError, match="no CUDA GPU"):
            machine.resolve_device("cuda")
    assert machine.default_workers("cuda", 16) == 15 and machine.default_workers("cpu", 1) == 0


def test_the_steps_fitted_to_the_time_leave_room_for_the_validations():
    # 100 s, 0.5 s a step, a validation of 5 s every 50 steps and one at the end.
    n = fit_steps(100, 0.5, 5, 50)
    assert n * 0.5 + 5 * (n / 50 + 1) <= 100 and n * 0.5 + 5 * (n / 50 + 1) > 90
    assert fit_steps(1, 10, 5, 50) == 1
    # A session's cosine starts at its own first step and ends with its last.
    config = TrainConfig(model="srcnn.jpeg-q10-gray", lr=1e-3, lr_schedule="cosine", lr_cycle_start=100)
    assert _learning_rate(config, 100, 200) == pytest.approx(1e-3)
    assert _learning_rate(config, 150, 200) == pytest.approx(0.5 * (1e-3 + 1e-5))
    assert _learning_rate(config, 200, 200) == pytest.approx(1e-5)


def test_the_speed_benchmark_prints_its_table(clean, capsys):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import train_speed
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    rows = train_speed.main(["--models", "srcnn.jpeg-q10-gray", "--steps", "1", "--warmup", "1", "--threads", "1",
                             "--data", str(clean)])
    out = capsys.readouterr().out
    assert f"machine: CPU {machine.cpu_model()}" in out and "timed steps" in out
    assert "today's loop" in out and "| `srcnn.jpeg-q10-gray` (64, 16) |" in out
    assert {(r["loop"], r["workers"]) for r in rows} == {("today's loop", 0), ("train.py", 0), ("train.py", 1)}
    assert all(r["patches_per_second"] > 0 for r in rows)


def test_auto_precision_keeps_fp32_where_bf16_changes_the_loss(clean, monkeypatch):
    from pixrescue.training import train as training

    torch.set_num_threads(1)
    monkeypatch.setattr(machine, "cpu_has_bf16", lambda: True)  # as on a processor with AMX
    # FSRCNN's last layer writes the picture: bf16's 8-bit mantissa shows in its loss.
    recipe = SuperResolutionRecipe(TrainConfig(model="fsrcnn.sr-x2", data=[str(clean)], patch=48, max_side=0))
    batch = recipe.sample(2, batch_rng(0, 0))
    model = zoo.get_spec("fsrcnn.sr-x2").build()
    model.load_state_dict(zoo.load_model("fsrcnn.sr-x2").state_dict())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert training.bf16_loss_change(model, recipe, batch, "cpu") > training.BF16_TOLERANCE
    choices = training._choose(model, recipe, batch, 0.01, "cpu", "auto", 1, 0, False)
    assert choices.precision == "fp32" and "bf16 moved" in choices.notes[0]
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # measuring changed nothing
    # SRCNN's JPEG remover barely moves: bf16 is kept.
    recipe = SeedJpegRecipe(TrainConfig(model="srcnn.jpeg-q10-gray", data=[str(clean)], patch=24))
    batch = recipe.sample(4, batch_rng(0, 0))
    model = zoo.get_spec("srcnn.jpeg-q10-gray").build()
    assert training._choose(model, recipe, batch, 0.01, "cpu", "auto", 1, 0, False).precision == "bf16"


def test_a_checkpoint_from_before_per_step_seeds_still_resumes(clean, tmp_path):
    from click.testing import CliRunner

    from pixrescue.cli import main

    def run(steps: int):
        return CliRunner().invoke(main, [
            "train", "srcnn.jpeg-q10-gray", "--data", str(clean), "--out", str(tmp_path / "out"),
            "--run-dir", str(tmp_path / "run"), "--batch", "2", "--patch", "24", "--steps", str(steps),
            "--val-every", "1000", "--threads", "1"])

    assert run(2).exit_code == 0
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    state = torch.load(checkpoint, weights_only=True)
    for key in ("batch_seeds", "lineage"):
        del state[key]
    state["config"].update(quality=10, target="q100", only="all", guide_weight=None)  # every option, flat
    state["numpy_rng"] = np.random.default_rng(0).bit_generator.state  # what the old loop saved
    for entry in state["runs"]:
        for key in ("cpu", "precision", "threads", "workers", "patches_per_second"):
            del entry[key]
    torch.save(state, checkpoint)
    result = run(3)
    assert result.exit_code == 0, result.output
    assert "resumed" in result.output and "at step 2" in result.output and "predates per-step" in result.output
    card = json.loads((tmp_path / "out" / "srcnn.jpeg-q10-gray.json").read_text())
    assert card["training"]["steps_done"] == 3 and len(card["training"]["runs"]) == 2
