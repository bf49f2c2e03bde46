"""modecover.evaluation computes what ``modecover evaluate`` prints and writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import cli
from modecover.evaluation import LoadOptions, MetricOptions, evaluate_example, evaluate_files


def test_evaluate_example_is_the_commands_json(tmp_path):
    assert cli("evaluate", "--example", "--out", tmp_path / "cli" / "results.json").exit_code == 0
    evaluation = evaluate_example(MetricOptions())
    evaluation.write(tmp_path / "lib" / "results.json")
    for name in ("results.json", "data.npy", "evaluate/samples.npy"):
        assert (tmp_path / "lib" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()
    assert evaluation.results["modes_captured"] == 6 and evaluation.config["mixture"] == "ring-imbalanced"


def test_evaluate_files_images_explain_and_errors(tmp_path, rng):
    real, fake = tmp_path / "real.npy", tmp_path / "fake.npy"
    np.save(real, rng.random((40, 1, 4, 4)).astype(np.float32) * 255)
    np.save(fake, rng.random((30, 1, 4, 4)).astype(np.float32))
    run = cli("evaluate", "--real", real, "--real-range", "byte", "--fake", fake, "--kid",
              "--out", tmp_path / "cli.json", "--explain", tmp_path / "cli_explain")
    assert run.exit_code == 0, run.output
    evaluation = evaluate_files(str(real), str(fake), metrics=MetricOptions(kid=True), real_range="byte",
                                explain_dir=tmp_path / "lib_explain")
    assert evaluation.as_json() == json.loads((tmp_path / "cli.json").read_text())
    assert evaluation.config["extractor"] == "pixels" and evaluation.real.images.shape == (40, 1, 4, 4)
    assert evaluation.explained == json.loads((tmp_path / "cli_explain" / "groups.json").read_text())
    with pytest.raises(ValueError, match=r"outside the 'unit' range .* pass --real-range byte"):
        evaluate_files(str(real), str(fake))
    with pytest.raises(ValueError, match="identity extractor needs vectors"):
        evaluate_files(str(real), str(fake), load=LoadOptions(extractor="identity"), real_range="byte")
    with pytest.raises(ValueError, match="3 rows of logits but 30 fakes"):
        evaluate_files(str(real), str(fake), real_range="byte", fake_logits=np.zeros((3, 10)))
