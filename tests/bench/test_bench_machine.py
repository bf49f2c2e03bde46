"""benchmarks/_machine.py: the machine block and raw-timings file every timing benchmark writes."""

import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import load_benchmark

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def machine_module():
    return load_benchmark("_machine")


def cpuinfo(tmp_path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    block = f"processor\t: {{}}\nmodel name\t: Test CPU 9000\nflags\t\t: fpu sse2 avx2 {flags}\n\n"
    path.write_text(block.format(0) + block.format(1))
    return path


@pytest.mark.parametrize("flags, bf16, products", [
    ("avx512f avx512_bf16", ["avx512_bf16"], "bfloat16"),
    ("amx_tile amx_bf16 avx512_bf16", ["avx512_bf16", "amx_bf16"], "bfloat16"),
    ("avx512f avx512_vnni", [], "float32"),  # AVX-512 without bfloat16: float32 products
])
def test_machine_names_the_flags_that_choose_the_products(tmp_path, machine_module, flags, bf16, products):
    info = machine_module.machine(cpuinfo(tmp_path, flags))
    assert info["cpu_model"] == "Test CPU 9000" and info["bf16_flags"] == bf16 and info["products"] == products
    assert info["torch"] == torch.__version__ and info["cores"] == len(os.sched_getaffinity(0))
    assert len(info["load_average_1_5_15"]) == 3 and info["utc"].endswith("Z")


def test_machine_without_cpuinfo_says_float32(tmp_path, machine_module):
    info = machine_module.machine(tmp_path / "missing")
    assert info["bf16_flags"] == [] and info["products"] == "float32"


def test_write_timings_writes_raw_values_and_the_machine(tmp_path, machine_module, monkeypatch):
    monkeypatch.setenv("MODECOVER_TIMINGS_DIR", str(tmp_path / "timings"))
    monkeypatch.setattr(sys, "argv", ["bench_x.py", "--repeats", "2"])
    raw = {"ours": [0.5, np.float64(0.25)], "matrix": np.arange(3), "where": tmp_path}
    path = machine_module.write_timings("bench_x", raw, settings={"repeats": 2})
    assert path == tmp_path / "timings" / "bench_x.json"
    record = json.loads(path.read_text())
    assert record["bench"] == "bench_x" and record["command"] == ["bench_x.py", "--repeats", "2"]
    assert record["settings"] == {"repeats": 2} and record["timings"]["ours"] == [0.5, 0.25]
    assert record["timings"]["matrix"] == [0, 1, 2] and record["timings"]["where"] == str(tmp_path)
    assert {"cores", "cpu_model", "bf16_flags", "products", "torch", "load_average_1_5_15", "utc"} <= set(
        record["machine"])
    assert sorted(p.name for p in path.parent.iterdir()) == ["bench_x.json"]  # no temporary file left


def test_write_timings_refuses_what_it_cannot_write(tmp_path, machine_module, monkeypatch):
    monkeypatch.setenv("MODECOVER_TIMINGS_DIR", str(tmp_path))
    for bad in ("", "../x", ".hidden"):
        with pytest.raises(ValueError, match="bench: expected a file stem"):
            machine_module.write_timings(bad, {})
    with pytest.raises(TypeError, match="cannot write a object as JSON"):
        machine_module.write_timings("bench_y", {"x": object()})
    assert not (tmp_path / "bench_y.json").exists()


def test_default_folder_is_results_timings(machine_module, monkeypatch):
    monkeypatch.delenv("MODECOVER_TIMINGS_DIR", raising=False)
    assert machine_module.timings_dir() == ROOT / "results" / "timings"


def test_every_timing_benchmark_writes_its_timings():
    timing = ["bench_ensemble", "bench_explain", "bench_fid", "bench_gan", "bench_knn", "bench_loci", "bench_magnet",
              "bench_model_families", "bench_plugin_overhead", "bench_prdc", "bench_search_scaling", "bench_threads"]
    for name in timing:
        text = (ROOT / "benchmarks" / f"{name}.py").read_text()
        assert "from _machine import write_timings" in text and re.search(r'write_timings\(f?"bench_', text), name
