"""`pixrescue train --plan`: each model resumes its run, and replaces the
shipped weights (here a temporary folder) only when its judge improved."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import save_file
from skimage import data

from pixrescue import cards, zoo
from pixrescue.cli import main
from pixrescue.training.campaign import PlanError, load_plan

ROOT = Path(__file__).resolve().parents[2]


def make_folder(root: Path) -> Path:
    root.mkdir()
    for name in ("astronaut", "camera", "coins", "coffee", "chelsea", "moon"):
        Image.fromarray(getattr(data, name)()).save(root / f"{name}.png")
    return root


def digest(path: Path) -> bytes:
    return path.read_bytes()


def campaign(tmp_path: Path, weights: Path, *extra: str):
    return CliRunner().invoke(main, [
        "train", "--plan", str(tmp_path / "plan.json"), "--minutes", "10", "--weights-dir", str(weights),
        "--run-dir", str(tmp_path / "runs"), "--device", "cpu", "--threads", "1", "--workers", "0", *extra])


def test_a_campaign_resumes_its_runs_and_replaces_shipped_weights_only_when_they_improved(tmp_path):
    clean = make_folder(tmp_path / "clean")
    weights = tmp_path / "weights"
    weights.mkdir()
    # srcnn: "shipped" weights that any training improves (a random start, far from the identity);
    # fsrcnn: the real shipped weights, trained at a learning rate too small to change them by 0.01 dB.
    torch.manual_seed(0)
    save_file(zoo.get_spec("srcnn.jpeg-q10-gray").build().state_dict(),
              str(zoo.weights_path("srcnn.jpeg-q10-gray", weights)))
    shutil.copy(cards.card_path("srcnn.jpeg-q10-gray"), weights)  # with the benchmark figures of the real ones
    for source in (zoo.weights_path("fsrcnn.sr-x2"), cards.card_path("fsrcnn.sr-x2")):
        shutil.copy(source, weights / source.name)
    (tmp_path / "plan.json").write_text(json.dumps({
        "data": [str(clean)],
        "margin_db": 0.01,
        "models": [
            {"model": "srcnn.jpeg-q10-gray", "share": 1,
             "options": {"patch": 32, "batch": 8, "steps": 6, "lr": 3e-3, "val_every": 1000}},
            {"model": "fsrcnn.sr-x2", "share": 1,
             "options": {"patch": 48, "batch": 2, "steps": 2, "lr": 1e-9, "max_side": 0, "val_every": 1000}},
        ]}))
    real_fsrcnn = digest(zoo.weights_path("fsrcnn.sr-x2", weights))
    random_srcnn = digest(zoo.weights_path("srcnn.jpeg-q10-gray", weights))

    result = campaign(tmp_path, weights)
    assert result.exit_code == 0, result.output
    runs = tmp_path / "runs"
    # srcnn improved on its random start: the candidate replaced it, card beside, saying why.
    srcnn = zoo.weights_path("srcnn.jpeg-q10-gray", weights)
    assert digest(srcnn) != random_srcnn
    assert digest(srcnn) == digest(zoo.weights_path("srcnn.jpeg-q10-gray", runs / "srcnn.jpeg-q10-gray"))
    card = cards.read(cards.card_path("srcnn.jpeg-q10-gray", weights))
    assert card["judge"]["replaced_shipped"] and card["judge"]["candidate"] > card["judge"]["shipped"] + 0.01
    assert card["training"]["steps_done"] == 6
    assert card["metrics"] == {} and "Classic5-q10" in card["metrics_of_the_replaced_weights"]
    assert "replaced" in result.output
    # fsrcnn did not move: the shipped file stayed as it was, the candidate in its run folder.
    assert digest(zoo.weights_path("fsrcnn.sr-x2", weights)) == real_fsrcnn
    kept = cards.read(cards.card_path("fsrcnn.sr-x2", runs / "fsrcnn.sr-x2"))
    assert not kept["judge"]["replaced_shipped"] and "not more than the margin" in kept["judge"]["reason"]
    assert kept["lineage"][0]["config"]["model"] == "fsrcnn.sr-x2"  # started from the shipped card
    assert "kept the shipped weights" in result.output
    entry = kept["training"]["runs"][0]
    assert entry["command"].startswith("pixrescue train --") and "--plan" in entry["command"]
    assert entry["campaign"].endswith("plan.json")

    # Now the shipped srcnn is a better one than the run can reach in a few more steps.
    shutil.copy(zoo.weights_path("srcnn.jpeg-q10-gray"), srcnn)
    better = digest(srcnn)
    result = campaign(tmp_path, weights)
    assert result.exit_code == 0, result.output
    assert "at step 6" in result.output and "at step 2" in result.output  # each run resumed where it stopped
    assert digest(srcnn) == better
    candidate = cards.read(cards.card_path("srcnn.jpeg-q10-gray", runs / "srcnn.jpeg-q10-gray"))
    assert candidate["training"]["steps_done"] == 12 and not candidate["judge"]["replaced_shipped"]
    assert [(r["from_step"], r["to_step"]) for r in candidate["training"]["runs"]] == [(0, 6), (6, 12)]
    assert cards.read(cards.card_path("fsrcnn.sr-x2", runs / "fsrcnn.sr-x2"))["training"]["steps_done"] == 4
    outcomes = [json.loads(line) for line in (runs / "campaign.jsonl").read_text().splitlines()]
    assert [(o["model"], o["replaced"]) for o in outcomes] == [
        ("srcnn.jpeg-q10-gray", True), ("fsrcnn.sr-x2", False), ("srcnn.jpeg-q10-gray", False),
        ("fsrcnn.sr-x2", False)]


def test_a_plan_is_checked_before_any_time_is_spent(tmp_path):
    clean = make_folder(tmp_path / "clean")
    plan = tmp_path / "plan.json"
    for bad, message in (
        ({"models": [{"model": "nope.x1"}]}, "unknown model"),
        ({"data": [str(clean)], "models": [{"model": "srcnn.sr-x2", "options": {"batchsize": 4}}]}, "batchsize"),
        # An option of another recipe: the upscalers have no JPEG quality.
        ({"data": [str(clean)], "models": [{"model": "srcnn.sr-x2", "options": {"quality": 20}}]}, "options.quality"),
        ({"data": [str(tmp_path / "missing")], "models": [{"model": "srcnn.sr-x2"}]}, "no such folder"),
        ({"data": [str(clean)], "models": [{"model": "embedcnn.thumb64"}]}, "no PSNR"),
        ({"data": [str(clean)], "models": [{"model": "srcnn.sr-x2", "share": 0}]}, "share"),
    ):
        plan.write_text(json.dumps(bad))
        with pytest.raises(PlanError, match=message):
            load_plan(plan)
    plan.write_text(json.dumps({"data": [str(clean)], "models": [
        {"model": "irn.x2", "options": {"guide_weight": 8.0}, "cuda": {"batch": 64}},
        {"model": "srcnn.jpeg-q10-gray", "options": {"quality": 20}}]}))
    rescaler, remover = load_plan(plan).entries
    assert rescaler.config("cuda").recipe.guide_weight == 8.0 and rescaler.config("cuda").batch == 64
    assert remover.config("cpu").recipe.quality == 20
    result = CliRunner().invoke(main, ["train", "srcnn.sr-x2", "--plan", str(plan), "--minutes", "1"])
    assert result.exit_code == 2 and "--plan takes its models" in result.output


def test_the_example_plan_names_the_recipes_of_the_readme():
    plan = json.loads((ROOT / "benchmarks" / "campaign.json").read_text())
    models = {entry["model"]: entry for entry in plan["models"]}
    assert set(models) == {"qgunet.jpeg-blind", "edsr.sr-x234"}
    assert models["qgunet.jpeg-blind"]["options"]["patch"] == 96
    assert models["edsr.sr-x234"]["options"]["patch"] == 120
