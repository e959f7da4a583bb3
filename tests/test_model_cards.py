"""The registry and the model cards agree: architectures named in cards,
capabilities as fields of the spec, cards written only through cards.py."""

from __future__ import annotations

import inspect
import shutil

import pytest

from pixrescue import cards, zoo
from pixrescue.tasks.restore import check_model
from pixrescue.training.evaluate import Scores, merge_into_cards, record_in_card

SHIPPED = sorted(name for name in zoo.MODELS if zoo.weights_path(name).exists())
SEED = "srcnn.jpeg-q10-gray"


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_card_names_the_architecture_the_registry_builds(name):
    card = cards.read(cards.card_path(name))
    spec = zoo.MODELS[name]
    assert card["architecture"] == spec.architecture()
    assert type(spec.build()).__name__ == card["architecture"]["class"]
    zoo.check_architecture(spec, card, name)  # passes


def test_edsr_card_records_the_registry_size():
    assert cards.read(cards.card_path("edsr.sr-x234"))["architecture"]["arguments"] == {"channels": 40, "blocks": 10}


def _weights_with_card(tmp_path, change):
    weights = tmp_path / f"{SEED}.safetensors"
    shutil.copy(zoo.weights_path(SEED), weights)
    card = cards.read(cards.card_path(SEED))
    change(card)
    cards.write(cards.beside(weights), card)
    return weights


def test_weights_whose_card_names_other_arguments_are_refused_in_one_line(tmp_path):
    weights = _weights_with_card(tmp_path, lambda card: card["architecture"]["arguments"].update(features=32))
    with pytest.raises(zoo.UnknownModelError) as error:
        zoo.load_model(str(weights))
    message = str(error.value)
    assert "\n" not in message
    assert "features=32" in message and "SRCNN()" in message and SEED in message


def test_weights_whose_card_names_another_class_are_refused(tmp_path):
    weights = _weights_with_card(tmp_path, lambda card: card["architecture"].update({"class": "VDSR"}))
    with pytest.raises(zoo.UnknownModelError, match="VDSR"):
        zoo.load_model(str(weights))


def test_a_card_without_an_architecture_block_still_loads(tmp_path):
    weights = _weights_with_card(tmp_path, lambda card: card.pop("architecture"))
    assert type(zoo.load_model(str(weights))).__name__ == "SRCNN"


def test_conditioned_models_are_the_ones_whose_network_is_told_the_tables():
    for name, spec in zoo.MODELS.items():
        if spec.task != "jpeg":
            assert not spec.conditioned, name
            continue
        told = "tables" in inspect.signature(zoo.architecture_class(spec.arch).forward).parameters
        assert spec.conditioned == told, name
        assert spec.colour == ("rgb" if told else "gray"), name


def test_strength_is_refused_for_an_unconditioned_model_only():
    with pytest.raises(ValueError, match="blind model"):
        check_model(SEED, strength=30)
    check_model(zoo.DEFAULT_MODEL["jpeg"], strength=30)


def test_benchmark_rows_go_into_cards_keeping_what_was_there(tmp_path):
    path = cards.write(tmp_path / "m.json", {"name": "m", "metrics": {"old": {"psnr": 1.0}}})
    record_in_card(path, "Set-q10", Scores(30.0, 0.9, 29.0, 5), Scores(28.5, 0.8, 27.0, 5), "cmd a")
    card = cards.read(path)
    assert card["metrics"]["old"] == {"psnr": 1.0}
    assert card["metrics"]["Set-q10"] == {"psnr": 30.0, "ssim": 0.9, "psnr_b": 29.0, "images": 5,
                                          "gain_db": 1.5, "jpeg_psnr": 28.5}
    assert card["metrics_command"] == "cmd a"
    assert path.read_text().endswith("}\n")


def test_merged_tables_keep_the_other_tables_figures(tmp_path):
    cards.write(tmp_path / "a.b.json", {"metrics": {"x2": {"Set5": 1, "speed": 2}}})
    merge_into_cards({"a.b": {"x2": {"Set5": 3}, "x3": {"Set5": 4}}, "missing.card": {"x2": {}}}, "cmd b", tmp_path)
    card = cards.read(tmp_path / "a.b.json")
    assert card == {"metrics": {"x2": {"Set5": 3, "speed": 2}, "x3": {"Set5": 4}}, "metrics_command": "cmd b"}
    assert not (tmp_path / "missing.card.json").exists()


def test_listing_the_models_does_not_import_torch():
    """`pixrescue models` and `--help` read cards only: importing torch would cost a second."""
    import subprocess
    import sys

    code = ("import sys\nfrom click.testing import CliRunner\nfrom pixrescue.cli import main\n"
            "result = CliRunner().invoke(main, ['models'])\nassert result.exit_code == 0, result.output\n"
            "assert 'qgunet.jpeg-blind (default)' in result.output and 'bicubic' in result.output\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
