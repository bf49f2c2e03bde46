"""The pooled per-seed CSVs of results/ hold exactly the rows of the looks they pool: no seed
added, dropped, edited or counted twice."""

from pathlib import Path

import pytest

from modecover.bench.tables import read_per_seed

ROOT = Path(__file__).resolve().parents[2]
POOLS = {  # pooled CSV: (data set, rows, the per-seed CSVs it pools)
    "results/B2-ring-pooled/per_seed.csv": ("ring-imbalanced", ("GAN", "GAN + DMPRA"),
                                            ("results/B2/per_seed.csv", "results/B2-fresh/per_seed.csv")),
    "results/B2-grid-pooled/per_seed.csv": ("grid-imbalanced", ("GAN", "GAN + DMPRA"),
                                            ("results/B2/per_seed.csv", "results/B2-grid-fresh/per_seed.csv")),
    "results/B3-pooled/per_seed.csv": ("digits-rare3", ("GAN", "GAN + DMPRA"),
                                       ("results/B3/per_seed.csv", "results/B3-fresh/per_seed.csv")),
}


def _key(record: dict) -> tuple:
    return record["dataset"], record["row"], record["seed"]


@pytest.mark.parametrize("pooled", sorted(POOLS))
def test_pooled_csv_is_the_union_of_its_looks(pooled):
    dataset, rows, sources = POOLS[pooled]
    looks = [[r for r in read_per_seed(ROOT / s) if r["dataset"] == dataset and r["row"] in rows] for s in sources]
    seeds = [{_key(r) for r in look} for look in looks]
    assert all(seeds) and not set.intersection(*seeds), f"{sources}: each look must hold seeds the others do not"
    expected = sorted((r for look in looks for r in look), key=_key)
    got = sorted(read_per_seed(ROOT / pooled), key=_key)
    assert [_key(r) for r in got] == [_key(r) for r in expected]
    assert [r["metrics"] for r in got] == [r["metrics"] for r in expected]
