"""docs/models.md is what benchmarks/cards_tables.py makes of the shipped cards."""

from __future__ import annotations

import shutil

from benchmarks import cards_tables
from pixrescue import cards


def test_the_committed_models_table_is_the_one_the_cards_give():
    assert cards_tables.OUTPUT.read_text() == cards_tables.render(), \
        "docs/models.md is stale: run python benchmarks/cards_tables.py"
    assert cards_tables.main(["--check"]) == 0


def test_a_changed_card_changes_the_table(tmp_path):
    directory = tmp_path / "weights"
    shutil.copytree(cards.WEIGHTS_DIR, directory, ignore=shutil.ignore_patterns("*.safetensors"))
    shipped = cards.read(cards.card_path("edsr.sr-x234", directory))["metrics"]["x2"]["Set5"]
    cards.update(cards.card_path("edsr.sr-x234", directory),
                 lambda card: card["metrics"]["x2"]["Set5"].update(psnr_y=12.34))
    text = cards_tables.render(directory)
    assert text != cards_tables.render()
    assert f"| x2 / Set5 | psnr_y 12.34, ssim_y {shipped['ssim_y']} |" in text
    assert f"psnr_y {shipped['psnr_y']}" in cards_tables.render() and f"psnr_y {shipped['psnr_y']}" not in text
