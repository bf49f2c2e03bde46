"""docs/training.md's B4 plateau table says what the committed curves (results/B4-plateau) hold."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROWS = {  # the table's row label: the curve it shows
    "DCGAN (width 16)": "gan_seed100.jsonl",
    "DCGAN, validation seed 101": "gan_seed101.jsonl",
    "conv VAE (width 16, `logcosh_alpha` 1)": "vae_seed100.jsonl",
    "conv VAE, validation seed 101": "vae_seed101.jsonl",
}


def _table_row(label: str) -> list[str]:
    for line in (ROOT / "docs" / "training.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == label:
            return cells[1:]
    raise AssertionError(f"docs/training.md has no table row {label!r}")


@pytest.mark.parametrize("label", sorted(ROWS))
def test_plateau_table_row_is_its_curve(label):
    curve = json.loads((ROOT / "results" / "B4-plateau" / ROWS[label]).read_text())
    expected = [f"{fid:.1f} / {coverage:.3f}" for _, fid, coverage in curve["step_fid_coverage"]]
    assert _table_row(label) == expected
    assert [step for step, _, _ in curve["step_fid_coverage"]] == list(range(1500, 12001, 1500))
