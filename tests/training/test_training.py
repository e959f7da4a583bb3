"""`pixrescue train`: writes weights and a card, and resumes from its checkpoint."""

import json

import pytest

from click.testing import CliRunner
from PIL import Image
from safetensors.torch import load_file
from skimage import data

from pixrescue.cli import main
from pixrescue.training.data import JpegPair, PatchSampler
from pixrescue.zoo import MODELS

import numpy as np
import torch


def make_folder(root):
    root.mkdir()
    for name in ("camera", "coins", "moon", "page", "astronaut", "coffee"):
        Image.fromarray(getattr(data, name)()).save(root / f"{name}.png")
    return root


def train(tmp_path, *extra):
    return CliRunner().invoke(main, [
        "train", "srcnn.jpeg-q10-gray", "--data", str(tmp_path / "clean"), "--out", str(tmp_path / "out"),
        "--run-dir", str(tmp_path / "run"), "--batch", "2", "--patch", "32", "--val-every", "2", *extra,
    ])


def test_training_writes_weights_and_a_card_and_resumes(tmp_path):
    make_folder(tmp_path / "clean")
    result = train(tmp_path, "--steps", "2")
    assert result.exit_code == 0, result.output
    weights = tmp_path / "out" / "srcnn.jpeg-q10-gray.safetensors"
    assert set(load_file(str(weights))) == set(MODELS["srcnn.jpeg-q10-gray"].build().state_dict())
    card = json.loads((tmp_path / "out" / "srcnn.jpeg-q10-gray.json").read_text())
    assert card["training"]["steps_done"] == 2
    assert card["training"]["config"]["quality"] == 10
    assert card["training"]["command"].startswith("pixrescue train srcnn.jpeg-q10-gray")
    assert "psnr_output" in card["validation"]

    result = train(tmp_path, "--steps", "3", "--batch", "3")
    assert "resumed" in result.output and "at step 2" in result.output
    card = json.loads((tmp_path / "out" / "srcnn.jpeg-q10-gray.json").read_text())
    assert card["training"]["steps_done"] == 3
    # Resumed with another batch: the card counts what each invocation saw and lists both.
    assert card["training"]["patches_seen"] == 2 * 2 + 1 * 3
    assert [(r["from_step"], r["to_step"], r["batch"]) for r in card["training"]["runs"]] == [(0, 2, 2), (2, 3, 3)]


def test_pairs_follow_the_recipe(gray_photo):
    degraded, target = JpegPair(quality=10, target="q100")(gray_photo)
    clean = np.asarray(gray_photo, dtype=float)
    assert degraded.shape == target.shape == clean.shape
    assert np.abs(target - clean).mean() < 1.0  # quality 100 is nearly the original
    assert np.abs(degraded - clean).mean() > 3.0  # quality 10 is not
    _, original = JpegPair(quality=10, target="original")(gray_photo)
    assert np.array_equal(original, np.asarray(gray_photo))


def test_patches_are_aligned_crops_of_both_images(gray_photo):
    degraded, target = JpegPair()(gray_photo)
    x, y = PatchSampler([(degraded, target)], 64).sample(8, np.random.default_rng(0))
    assert x.shape == y.shape == (8, 1, 64, 64)
    assert 0 <= x.min() and x.max() <= 1
    assert (x - y).abs().mean() < 0.1  # the same place of the same picture


def test_upscaler_and_rescaler_training_write_cards_that_say_what_they_see(tmp_path):
    make_folder(tmp_path / "clean")
    for model, patch in (("fsrcnn.sr-x2", "48"), ("vdsr.sr-x234", "36"), ("irn.x2", "32")):
        result = CliRunner().invoke(main, [
            "train", model, "--data", str(tmp_path / "clean"), "--out", str(tmp_path / "out"),
            "--run-dir", str(tmp_path / model), "--batch", "2", "--patch", patch, "--steps", "2",
            "--max-side", "0", "--val-every", "2"])
        assert result.exit_code == 0, result.output
        card = json.loads((tmp_path / "out" / f"{model}.json").read_text())
        assert card["scale"] == list(MODELS[model].scales)
        assert "psnr_output" in card["validation"]
        # The card records the network's class and arguments, and only the options its recipe has.
        assert card["architecture"] == {"class": type(MODELS[model].build()).__name__,
                                        "arguments": json.loads(json.dumps(MODELS[model].arch_kwargs))}
        assert not {"quality", "target", "only"} & set(card["training"]["config"])
        assert ("guide_weight" in card["training"]["config"]) == (model == "irn.x2")
    assert "Y channel" in json.loads((tmp_path / "out" / "vdsr.sr-x234.json").read_text())["colour"]
    assert "psnr_small" in card["validation"]  # the rescaler also checks its small picture


def test_a_model_started_from_another_models_weights_inherits_its_lineage(tmp_path):
    make_folder(tmp_path / "clean")

    def run(model, out, *extra):
        return CliRunner().invoke(main, [
            "train", model, "--data", str(tmp_path / "clean"), "--out", str(tmp_path / out),
            "--run-dir", str(tmp_path / f"run-{out}"), "--batch", "2", "--patch", "32", "--steps", "2",
            "--max-side", "0", "--val-every", "2", *extra])

    assert run("irn.x2", "a").exit_code == 0
    # A card written before the recipes had their own configs held the JPEG options for every model.
    old = json.loads((tmp_path / "a" / "irn.x2.json").read_text())
    old["training"]["config"].update(quality=10, target="q100", only="all")
    (tmp_path / "a" / "irn.x2.json").write_text(json.dumps(old))
    result = run("irn.x4", "b", "--init", str(tmp_path / "a" / "irn.x2.safetensors"))
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "b" / "irn.x4.json").read_text())
    assert [entry["config"]["model"] for entry in card["lineage"]] == ["irn.x2"]
    assert card["lineage"][0]["config"]["quality"] == 10  # carried on as it was
    result = run("irn.x4-jpeg", "c", "--init", str(tmp_path / "b" / "irn.x4.safetensors"))
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "c" / "irn.x4-jpeg.json").read_text())
    assert [entry["config"]["model"] for entry in card["lineage"]] == ["irn.x4", "irn.x2"]


def test_super_resolution_patches_line_up_with_their_targets(tmp_path):
    from pixrescue.training.recipes.super_resolution import SuperResolutionRecipe
    from pixrescue.training.train import TrainConfig

    make_folder(tmp_path / "clean")
    recipe = SuperResolutionRecipe(TrainConfig(model="edsr.sr-x234", data=[str(tmp_path / "clean")], patch=48,
                                           max_side=0))
    x, y, scale = recipe.sample(4, np.random.default_rng(0))
    assert y.shape[2] == x.shape[2] * scale == 48 // scale * scale
    enlarged = torch.nn.functional.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    assert (enlarged - y).abs().mean() < 0.06  # the same place of the same picture


def test_enlarged_input_networks_mix_scales_in_a_batch_and_stay_aligned(tmp_path):
    from pixrescue.training.recipes.super_resolution import SuperResolutionRecipe
    from pixrescue.training.train import TrainConfig

    make_folder(tmp_path / "clean")
    recipe = SuperResolutionRecipe(TrainConfig(model="vdsr.sr-x234", data=[str(tmp_path / "clean")], patch=40,
                                           max_side=0))
    x, y, scale = recipe.sample(12, np.random.default_rng(0))
    assert scale is None and x.shape == y.shape == (12, 1, 36, 36)  # a side every scale divides
    assert ((x - y).abs().mean(dim=(1, 2, 3)) < 0.06).all()  # each patch: the same place, enlarged


def test_asking_for_a_gpu_that_torch_does_not_see_is_a_clear_usage_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    make_folder(tmp_path / "clean")
    result = train(tmp_path, "--steps", "1", "--device", "cuda")
    assert result.exit_code == 2
    assert "no CUDA GPU" in result.output
    assert not (tmp_path / "out").exists()


def test_a_recipes_sample_moves_to_the_training_device_whole():
    from pixrescue.training.train import _to_device

    qualities = np.array([70, 90])
    x, kept, extra = _to_device((torch.zeros(2, 3), qualities, {"q": torch.ones(2)}), "meta")
    assert x.device.type == "meta" and extra["q"].device.type == "meta"
    assert kept is qualities  # not a tensor: left as the recipe made it


def test_the_rescalers_guide_weight_can_be_chosen_and_weighs_the_small_pictures_distance(tmp_path):
    from pixrescue.training.recipes.rescaling import RescalingConfig, RescalingRecipe, bicubic_downscale
    from pixrescue.training.train import TrainConfig

    make_folder(tmp_path / "clean")
    recipes = {weight: RescalingRecipe(TrainConfig(model="irn.x2", data=[str(tmp_path / "clean")], patch=32,
                                                   max_side=0, recipe=RescalingConfig(guide_weight=weight)))
               for weight in (None, 40.0)}
    assert recipes[None].guide_weight == RescalingRecipe.GUIDE_WEIGHT[2] and recipes[40.0].guide_weight == 40.0
    model = MODELS["irn.x2"].build()
    batch = recipes[None].sample(2, np.random.default_rng(0))
    losses = {}
    for weight, recipe in recipes.items():
        torch.manual_seed(0)  # the same draw of z for both
        losses[weight] = recipe.loss(model, batch).item()
    x = batch[0]
    small, _ = model(x)
    distance = (((small - bicubic_downscale(x, 2)) ** 2).sum() / x.shape[0]).item()
    assert distance > 0
    assert losses[40.0] - losses[None] == pytest.approx((40.0 - RescalingRecipe.GUIDE_WEIGHT[2]) * distance,
                                                        rel=1e-3)

    result = CliRunner().invoke(main, [
        "train", "irn.x2", "--data", str(tmp_path / "clean"), "--out", str(tmp_path / "out"),
        "--run-dir", str(tmp_path / "run-irn"), "--batch", "2", "--patch", "32", "--steps", "1",
        "--max-side", "0", "--guide-weight", "10"])
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "out" / "irn.x2.json").read_text())
    assert card["training"]["config"]["guide_weight"] == 10.0 and "weight 10.0" in card["training"]["target"]
    result = train(tmp_path, "--steps", "1", "--guide-weight", "10")  # not a rescaling model
    assert result.exit_code == 2 and "rescaling models" in result.output


def test_only_estimator_trains_the_blind_models_estimator_alone_from_a_fresh_start(tmp_path):
    make_folder(tmp_path / "clean")
    shipped = MODELS["qgunet.jpeg-blind"]
    from pixrescue.zoo import weights_path

    init = weights_path("qgunet.jpeg-blind")
    result = CliRunner().invoke(main, [
        "train", "qgunet.jpeg-blind", "--data", str(tmp_path / "clean"), "--out", str(tmp_path / "out"),
        "--run-dir", str(tmp_path / "run"), "--batch", "2", "--patch", "32", "--steps", "1", "--val-every", "1",
        "--threads", "1", "--workers", "0", "--only", "estimator", "--init", str(init)])
    assert result.exit_code == 0, result.output
    assert "starting fresh: estimator." in result.output
    before, after = load_file(str(init)), load_file(str(tmp_path / "out" / "qgunet.jpeg-blind.safetensors"))
    estimator = {k for k in after if k.startswith("estimator.")}
    assert estimator and set(after) == set(shipped.build().state_dict())
    assert all(torch.equal(after[k], before[k]) for k in after if k not in estimator)  # the restorer stays frozen
    assert not any(torch.equal(after[k], before[k]) for k in estimator if k.endswith("weight"))
    card = json.loads((tmp_path / "out" / "qgunet.jpeg-blind.json").read_text())
    assert card["training"]["config"]["only"] == "estimator" and "quality" not in card["training"]["config"]

    result = train(tmp_path, "--steps", "1", "--only", "estimator")  # srcnn has no estimator
    assert result.exit_code == 2 and "blind JPEG model" in result.output


def test_only_reshare_trains_the_detector_alone_and_calibrates_it_in_the_card(tmp_path):
    make_folder(tmp_path / "clean")
    from pixrescue.zoo import weights_path

    init = weights_path("qgunet.jpeg-blind")
    result = CliRunner().invoke(main, [
        "train", "qgunet.jpeg-blind", "--data", str(tmp_path / "clean"), "--out", str(tmp_path / "out"),
        "--run-dir", str(tmp_path / "run"), "--batch", "4", "--patch", "32", "--steps", "2", "--val-every", "2",
        "--max-side", "0", "--threads", "1", "--workers", "0", "--only", "reshare", "--init", str(init)])
    assert result.exit_code == 0, result.output
    assert "starting fresh: reshare." in result.output
    before, after = load_file(str(init)), load_file(str(tmp_path / "out" / "qgunet.jpeg-blind.safetensors"))
    detector = {k for k in after if k.startswith("reshare.")}
    assert detector
    assert all(torch.equal(after[k], before[k]) for k in after if k not in detector)  # estimator and restorer frozen
    assert not any(torch.equal(after[k], before[k]) for k in detector if k.endswith("weight"))
    card = json.loads((tmp_path / "out" / "qgunet.jpeg-blind.json").read_text())
    calibration = card["reshare"]
    assert 0 < calibration["threshold"] < 1 and calibration["cases"] > 0
    from pixrescue.training.recipes.jpeg import RESHARE_FALSE_DETECTIONS

    assert calibration["false_detections"] <= RESHARE_FALSE_DETECTIONS + 1 / calibration["cases"]
    assert card["validation"]["reshare_threshold"] == calibration["threshold"]


def test_a_config_carries_its_recipes_options_and_no_others():
    from pixrescue.training.recipes.jpeg import SeedJpegConfig
    from pixrescue.training.recipes.rescaling import RescalingConfig
    from pixrescue.training.train import TrainConfig

    config = TrainConfig.from_options("srcnn.jpeg-q10-gray", quality=20, batch=8)
    assert config.recipe == SeedJpegConfig(quality=20) and config.batch == 8
    assert config.record()["quality"] == 20 and "recipe" not in config.record()
    assert TrainConfig(model="irn.x2").recipe == RescalingConfig()
    with pytest.raises(TypeError):
        TrainConfig.from_options("edsr.sr-x234", quality=20)
    with pytest.raises(TypeError):
        TrainConfig(model="irn.x2", recipe=SeedJpegConfig())


@pytest.mark.parametrize("model,measured", [("qscore.mixed", "spearman"), ("deblurunet.blind", "psnr_output")])
def test_the_quality_score_and_the_deblurrer_train_and_say_what_they_learn(tmp_path, model, measured):
    folder = make_folder(tmp_path / "clean")
    for index in range(16):  # enough pictures for a held-out one (every 20th)
        Image.fromarray(data.astronaut()[index * 10:index * 10 + 260, :260]).save(folder / f"a{index}.png")
    result = CliRunner().invoke(main, ["train", model, "--data", str(folder), "--out", str(tmp_path / "out"),
                                       "--run-dir", str(tmp_path / "run"), "--batch", "2", "--patch", "48",
                                       "--steps", "2", "--val-every", "2"])
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "out" / f"{model}.json").read_text())
    assert measured in card["validation"] and card["task"] in ("quality-score", "deblur")
    assert set(load_file(str(tmp_path / "out" / f"{model}.safetensors"))) == set(MODELS[model].build().state_dict())
