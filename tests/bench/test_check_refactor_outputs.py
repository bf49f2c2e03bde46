"""benchmarks/check_refactor_outputs.py: two trees, the same inputs, a table of output hashes."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers import load_benchmark

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def script():
    return load_benchmark("check_refactor_outputs")


def test_digest_sees_bytes_dtype_and_shape(script):
    a = np.arange(6, dtype=np.float64)
    assert script.digest(a) == script.digest(a.copy())
    assert script.digest(a) != script.digest(a.reshape(2, 3))
    assert script.digest(a) != script.digest(a.astype(np.float32))
    b = a.copy()
    b[3] = np.nextafter(b[3], np.inf)  # one ulp
    assert script.digest(a) != script.digest(b)


def test_a_changed_metric_is_the_only_row_that_differs(script, tmp_path):
    """The current tree against a copy of it whose prdc precision is one ulp larger."""
    before = tmp_path / "before"
    shutil.copytree(ROOT / "src" / "modecover", before / "modecover", ignore=shutil.ignore_patterns("__pycache__"))
    with open(before / "modecover" / "metrics" / "__init__.py", "a") as fh:
        fh.write("\n_exact_prdc = prdc\n\n\ndef prdc(*args, **kwargs):\n    out = _exact_prdc(*args, **kwargs)\n"
                 "    out['precision'] = float(np.nextafter(out['precision'], 2.0))\n    return out\n\n\n"
                 "import numpy as np  # noqa: E402\n")
    out = tmp_path / "table.json"
    script.main(["--before", str(before), "--after", str(ROOT / "src"), "--out", str(out), "--n", "300",
                 "--repeats", "1"])
    report = json.loads(out.read_text())
    table = report["outputs"]
    assert table["prdc (precision, recall, density, coverage)"]["equal"] is False
    others = {name: row["equal"] for name, row in table.items() if not name.startswith("prdc")}
    assert len(others) >= 10 and all(others.values()), others
    assert report["all_equal"] is False and report["only_in_one_tree"] == []
    values = report["values"]
    assert values["before"]["prdc"]["precision"] == np.nextafter(values["after"]["prdc"]["precision"], 2.0)
    assert values["before"]["prdc"]["recall"] == values["after"]["prdc"]["recall"]
    assert set(report["timings"]) >= {"prdc", "loci search on the ring", "density weights on the digits"}
    assert all(len(t["after"]["runs_s"]) == len(t["after"]["cpu_runs_s"]) == 1 and t["after"]["median_cpu_s"] >= 0
               for t in report["timings"].values())
    assert report["trees"]["before"]["src"] == str(before) and report["settings"]["n"] == 300


def test_a_folder_without_modecover_is_refused(script, tmp_path, capsys):
    with pytest.raises(SystemExit):
        script.main(["--before", str(tmp_path), "--after", str(ROOT / "src"), "--out", str(tmp_path / "t.json")])
    assert f"--before {tmp_path}: no modecover/__init__.py there" in capsys.readouterr().err
