"""Damaged and crafted inputs get the project's own one-line errors.

The bounded fuzz run: a few thousand inputs (FUZZ_INPUTS, fixed FUZZ_SEED)
made by tests/fuzzing.py from seed files of every supported format, through
the loader, the JPEG table reader, the shrink-note reader and the catalogue
reader; only success or the project's own errors may come out.  The same
inputs, and as many more as wanted, each in a child process with a time and
memory limit: ``python benchmarks/fuzz.py --inputs 100000 --seed N`` (with
``--seed 2024 --inputs 6000`` it runs exactly this test's inputs).
"""

from __future__ import annotations

import json
import time

import pytest
from PIL import Image

import fuzzing
from pixrescue.imaging import ImageSaveError, Picture
from pixrescue.imaging.io import TEXT_KEY
from pixrescue.tasks.rescale import NotShrunkError, expand_picture, shrink_note

FUZZ_SEED = 2024
FUZZ_INPUTS = 6000  # 3600 to the loader, 900 each to read_info and shrink_note, 600 to the catalogue
FUZZ_MAX_PIXELS = 1 << 16  # a mutated size decodes fast, or is refused

VALID_NOTE = {"model": "irn.x2", "scale": 2, "width": 30, "height": 20, "small": [15, 10]}


def noted(text: str) -> Picture:
    return Picture(frames=[Image.new("RGB", (15, 10))], text={TEXT_KEY: text})


def with_note(**changes) -> str:
    return json.dumps({**VALID_NOTE, **changes})


CRAFTED_NOTES = {
    "missing small": json.dumps({k: v for k, v in VALID_NOTE.items() if k != "small"}),
    "missing width": json.dumps({k: v for k, v in VALID_NOTE.items() if k != "width"}),
    "small not a list": with_note(small=5),
    "small of one": with_note(small=[15]),
    "small of strings": with_note(small=["15", "10"]),
    "small negative": with_note(small=[-15, -10]),
    "width a string": with_note(width="30"),
    "width a float": with_note(width=30.0),
    "width a bool": with_note(width=True),
    "width negative": with_note(width=-30),
    "width zero": with_note(width=0),
    "width huge": with_note(width=10**400),
    "width over the bound": with_note(width=1_000_001),
    "width NaN": with_note().replace('"width": 30', '"width": NaN'),
    "width 1e400": with_note().replace('"width": 30', '"width": 1e400'),
    "height Infinity": with_note().replace('"height": 20', '"height": Infinity'),
    "model a list": with_note(model=["irn.x2"]),
    "model unknown": with_note(model="irn.x8"),
    "model not a rescaler": with_note(model="edsr.sr-x234"),
    "scale not the model's": with_note(scale=4),
    "scale a string": with_note(scale="2"),
    "scale huge": with_note(scale=2**64),
    "not an object": json.dumps([VALID_NOTE]),
    "null": "null",
    "deeply nested": "[" * 100000,
    "deeply nested values": with_note(small="[" * 3000 + "]" * 3000).replace('"[', "[").replace(']"', "]"),
    "too long": with_note() + " " * 5000,
    "not JSON": "irn.x2 30x20",
}


@pytest.mark.parametrize("name", sorted(CRAFTED_NOTES))
def test_a_crafted_shrink_note_is_refused(name):
    picture = noted(CRAFTED_NOTES[name])
    assert shrink_note(picture) is None
    with pytest.raises(NotShrunkError, match="was not made by `pixrescue shrink`") as caught:
        expand_picture(picture, max_pixels=0)  # 0: nothing would run even if it were accepted
    assert "\n" not in str(caught.value)


def test_a_note_shrink_wrote_is_accepted():
    for model, scale in (("irn.x2", 2), ("irn.x4", 4), ("irn.x4-jpeg", 4)):
        note = {"model": model, "scale": scale, "width": 30, "height": 20,
                "small": [-(-30 // scale), -(-20 // scale)], "future": "ignored"}
        assert shrink_note(noted(json.dumps(note))) == {k: v for k, v in note.items() if k != "future"}
    with pytest.raises(ImageSaveError, match="over the limit"):  # accepted: only the size limit stops it
        expand_picture(noted(with_note()), max_pixels=0)
    # In range but not this picture's: refused by expand with its own message.
    with pytest.raises(NotShrunkError, match="does not fit"):
        expand_picture(noted(with_note(width=100000, height=100000)), max_pixels=0)


def test_fuzz_inputs_are_reproducible():
    first = [fuzzing.make_case(FUZZ_SEED, i) for i in range(40)]
    assert first == [fuzzing.make_case(FUZZ_SEED, i) for i in range(40)]
    assert {case.target for case in first} == set(fuzzing.TARGETS)
    seeds = fuzzing.image_seeds()
    assert {suffix for suffix, _ in seeds.values()} == {".png", ".jpg", ".webp", ".gif", ".bmp", ".tif"}
    assert all(case.payload != seeds[case.seed_name][1] for case in first if case.seed_name in seeds)


@pytest.mark.parametrize("target", fuzzing.TARGETS)
def test_bounded_fuzz_run_gives_only_clean_errors(target, tmp_path):
    started = time.perf_counter()
    indices = [i for i in range(FUZZ_INPUTS) if fuzzing.TARGET_CYCLE[i % len(fuzzing.TARGET_CYCLE)] == target]
    kinds: dict[str, int] = {"ok": 0, "clean": 0}
    failures = []
    for index in indices:
        case = fuzzing.make_case(FUZZ_SEED, index)
        assert case.target == target
        outcome = fuzzing.run_case(case, tmp_path, FUZZ_MAX_PIXELS)
        kinds[outcome.kind] = kinds.get(outcome.kind, 0) + 1
        if outcome.kind not in ("ok", "clean"):
            reproducer = tmp_path / f"{target}-{index:06d}{case.suffix}"
            reproducer.write_bytes(case.payload)
            failures.append(f"input {index} ({case.seed_name}, {reproducer}): {outcome.detail}")
    elapsed = time.perf_counter() - started
    print(f"{target}: {len(indices)} inputs in {elapsed:.1f} s: {kinds}")
    assert not failures, f"{len(failures)} of {len(indices)} inputs let out other errors:\n" + "\n".join(failures[:20])
    # Both outcomes occur: the mutations neither all break nor all miss the files.
    assert kinds["clean"] > 0 and (kinds["ok"] > 0 or target == "shrink_note")
