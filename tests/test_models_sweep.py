"""Every registered model, from the registry: it loads, its card names its
constructor's arguments, its verb takes it and the other verbs refuse it in one line."""

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from helpers import jpeg_bytes
from pixrescue import zoo
from pixrescue.collection import catalog
from pixrescue.cli import main
from pixrescue.collection.fingerprints import EMBEDDINGS, thumbnail

NAMES = sorted(zoo.MODELS)
# The verbs that take a model with -m, and the task each one takes.
VERB_TASK = {"fix": "jpeg", "upscale": "upscale", "expand": "rescale", "deblur": "deblur"}


def cli(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(map(str, args)))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.fixture
def tiny(photo, tmp_path) -> Path:
    """A 32x24 picture as a JPEG at quality 20."""
    path = tmp_path / "tiny.jpg"
    path.write_bytes(jpeg_bytes(photo.resize((32, 24), Image.BICUBIC), 20))
    return path


@pytest.mark.parametrize("name", NAMES)
def test_it_loads_with_its_architectures_parameters(name):
    network = zoo.load_model(name)
    assert not network.training
    assert set(network.state_dict()) == set(zoo.get_spec(name).build().state_dict())


@pytest.mark.parametrize("name", NAMES)
def test_its_card_names_its_constructor_arguments(name):
    assert zoo.load_card(name)["architecture"]["arguments"] == zoo.get_spec(name).arch_kwargs


@pytest.mark.parametrize("name", NAMES)
def test_its_verb_takes_it(name, tiny, tmp_path):
    spec = zoo.get_spec(name)
    out = tmp_path / "out.png"
    if spec.task == "jpeg":
        assert cli("fix", tiny, "-m", name, "-o", out)[0] == 0
        assert Image.open(out).size == (32, 24)
    elif spec.task == "upscale":
        for scale in spec.scales:
            assert cli("upscale", tiny, "-s", scale, "-m", name, "-o", out, "--overwrite")[0] == 0
            assert Image.open(out).size == (32 * scale, 24 * scale)
    elif spec.task == "rescale":
        assert cli("expand", tiny, "-m", name, "-o", out)[0] == 0
        assert Image.open(out).size == (32 * spec.scales[0], 24 * spec.scales[0])
    elif spec.task == "deblur":
        assert cli("deblur", tiny, "-m", name, "-o", out)[0] == 0
        assert Image.open(out).size == (32, 24)
    elif spec.task == "quality":  # inspect reports what the default scorer predicts
        code, output = cli("inspect", tiny, "--json")
        assert code == 0 and '"quality_score"' in output
    elif spec.task == "side-info":  # compress writes its rate point's side information; fix uses it
        rate = name.split(".", 1)[1]
        assert cli("compress", tiny, "-q", 30, "--rate", rate, "-o", tmp_path / "si.jpg")[0] == 0
        code, output = cli("fix", tmp_path / "si.jpg", "-o", out)
        assert code == 0 and f"side information ({name}" in output
        assert Image.open(out).size == (32, 24)
    else:  # fingerprints: index stores what the network embeds
        folder = tmp_path / "folder"
        folder.mkdir()
        Image.open(tiny).convert("RGB").save(folder / "a.png")
        assert cli("index", folder)[0] == 0
        (record,) = catalog.records(folder / catalog.DB_NAME)
        method = {model: method for method, model in EMBEDDINGS.items()}[name]
        expected = zoo.load_model(name).embed(thumbnail(Image.open(folder / "a.png"))[None]).numpy()
        assert np.allclose(record.embeddings[method][:1], expected, atol=1e-3)  # stored as float16


@pytest.mark.parametrize("name,verb", [(name, verb) for name in NAMES for verb, task in VERB_TASK.items()
                                       if zoo.get_spec(name).task != task])
def test_the_other_verbs_refuse_it_in_one_line(name, verb, tiny, tmp_path):
    out = tmp_path / "out.png"
    code, output = cli(verb, tiny, "-m", name, "-o", out)
    assert code == 2 and output.startswith("error: ") and output.count("\n") == 1, output
    assert name in output and not out.exists()
