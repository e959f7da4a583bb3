"""tests/golden.json: one value for every quality measurement, written only on purpose."""

import json
import os
import subprocess
import sys
from pathlib import Path

import golden


def test_every_measurement_has_a_golden_value_and_no_value_is_stale():
    assert set(json.loads(golden.GOLDEN_PATH.read_text())["values"]) == set(golden.measurements())


def test_regeneration_refuses_to_run_under_ci():
    before = golden.GOLDEN_PATH.read_bytes()
    script = Path(golden.__file__)
    result = subprocess.run([sys.executable, str(script), "--regenerate"], capture_output=True, text=True,
                            env={**os.environ, "CI": "true"}, timeout=120)
    assert result.returncode == 2 and "CI" in result.stderr
    assert golden.GOLDEN_PATH.read_bytes() == before
