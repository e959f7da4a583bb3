"""The benchmark scripts run as ``python benchmarks/NAME.py``: their folder then heads
``sys.path``, so a script named like a standard-library module would replace it for every
benchmark (numpy imports ``inspect``)."""

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_no_benchmark_script_is_named_like_a_standard_library_module():
    scripts = sorted(path.stem for path in BENCHMARKS.glob("*.py"))
    assert scripts, "no benchmark scripts found"
    assert [name for name in scripts if name in sys.stdlib_module_names] == []
