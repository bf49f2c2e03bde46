"""Regenerate (or check) the tables and prose numbers of docs/RESULTS.md and README.md from the per-seed CSVs.

    python scripts/results_tables.py            # rewrite every marked table and number
    python scripts/results_tables.py --check    # exit 1 if a table or a number differs from its CSV
    python scripts/results_tables.py --collect runs/bench/B2 results/B2/per_seed.csv
                                                # the per-seed CSV of every job landed so far

Each table sits between ``<!-- table NAME -->`` and ``<!-- /table -->``; TABLES below says
which CSV, data sets, rows and metrics each one shows. The CSVs are written by
``modecover bench`` (OUT/<suite>/per_seed.csv) and copied under results/.

Each number of the prose that compares rows sits between ``<!-- num KIND ARGS -->`` and
``<!-- /num -->`` in docs/RESULTS.md and README.md: a mean ± s.e., a difference between two
rows ± its standard error (paired by seed where both rows ran the same seeds), its z, the
ratio of two means, a count of seeds, or of the seeds where one row beats another
(modecover.bench.numbers says how to write one).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from modecover.bench import suites
from modecover.bench.numbers import Source, check_numbers, count_numbers, update_numbers
from modecover.bench.tables import TableSpec, check, collect, update, write_per_seed

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "RESULTS.md"
# the documents whose numbers are checked
PROSE = (DOC, ROOT / "README.md", ROOT / "docs" / "training.md", ROOT / "docs" / "dmpra.md")
B2_METRICS = ("modes", "minority_captured", "hq_percent", "share_error", "precision", "recall", "coverage")
VARIANTS = ("", " + DMPRA", " + DMPRA (data space)", " + DMPRA (paper weights)", " + oracle")
GAN_ROWS = tuple("GAN" + v for v in VARIANTS)
FAMILY_ROWS = tuple(f + v for f in ("VAE", "Flow", "Diffusion") for v in VARIANTS)

B1_METRICS = ("modes", "hq_percent", "reverse_kl", "precision", "recall", "coverage")
B1_ROWS = tuple(suites.B1_ROWS)  # GAN, PacGAN2, PacGAN4, Top-k, DPM, LDMD, CFT+MR, DeLiGAN, DMPRA
B1_BEST_OTHER = json.loads((ROOT / "results/B1-validation/best_other.json").read_text())["best_other"]
B3_METRICS = ("rare_share", "share_error", "fid", "precision", "recall", "coverage")
B3_DENSITY_METRICS = ("rare_share", "rare_recall", "share_error", "fid", "precision", "recall", "coverage")
B3_ROWS = tuple(suites.B3_ROWS)
B4_ROWS = tuple(suites.B4_ROWS)
MAGNET_METRICS = tuple(f"magnet_rho{rho:g}_{m}" for m in ("rare_share", "fid", "recall") for rho in suites.MAGNET_RHOS)

TABLES = [
    TableSpec("B1-GAN", "results/B1/per_seed.csv", ("ring", "grid"), B1_METRICS, ("GAN",)),
    TableSpec("B1-rows", "results/B1/per_seed.csv", ("ring", "grid"), B1_METRICS,
              (*B1_ROWS, f"DMPRA + {B1_BEST_OTHER}")),
    TableSpec("B1-validation", "results/B1-validation/per_seed.csv", ("ring", "grid"), B1_METRICS),
    TableSpec("B1-GAN-ring-6000", "results/B1-ring-6000/per_seed.csv", ("ring",), B1_METRICS),
    TableSpec("B2-recipes", "results/B2-validation/recipes_per_seed.csv", ("ring", "ring-imbalanced"),
              ("modes", "minority_captured", "hq_percent"), n_minority=2),
    TableSpec("B2-grid-recipes", "results/B2-validation/grid_recipes_per_seed.csv", ("grid",),
              ("modes", "hq_percent", "precision", "recall", "coverage")),
    TableSpec("B2-validation", "results/B2-validation/per_seed.csv", ("ring-imbalanced",), B2_METRICS,
              n_minority=2),
    TableSpec("B2-ring-GAN", "results/B2/per_seed.csv", ("ring-imbalanced",), B2_METRICS, GAN_ROWS, n_minority=2),
    TableSpec("B2-grid-GAN", "results/B2/per_seed.csv", ("grid-imbalanced",), B2_METRICS, GAN_ROWS, n_minority=5),
    TableSpec("B2-grid-validation", "results/B2-validation/grid_hinge_per_seed.csv", ("grid-imbalanced",), B2_METRICS,
              n_minority=5),
    TableSpec("B2-grid-GAN-ns", "results/B2-grid-ns/per_seed.csv", ("grid-imbalanced",), B2_METRICS, GAN_ROWS,
              n_minority=5),
    TableSpec("B2-ring-GAN-6000", "results/B2-ring-6000/per_seed.csv", ("ring-imbalanced",), B2_METRICS, GAN_ROWS,
              n_minority=2),
    TableSpec("B2-ring-families", "results/B2/per_seed.csv", ("ring-imbalanced",), B2_METRICS, FAMILY_ROWS,
              n_minority=2),
    TableSpec("B2-grid-families", "results/B2/per_seed.csv", ("grid-imbalanced",), B2_METRICS, FAMILY_ROWS,
              n_minority=5),
    TableSpec("B2-ring-flow-affine", "results/B2-ring-flow-affine/per_seed.csv", ("ring-imbalanced",), B2_METRICS,
              n_minority=2),
    TableSpec("B2-ring-fresh", "results/B2-fresh/per_seed.csv", ("ring-imbalanced",), B2_METRICS,
              ("GAN", "GAN + DMPRA"), n_minority=2),
    TableSpec("B2-ring-pooled", "results/B2-ring-pooled/per_seed.csv", ("ring-imbalanced",), B2_METRICS,
              ("GAN", "GAN + DMPRA"), n_minority=2),
    TableSpec("B2-grid-fresh", "results/B2-grid-fresh/per_seed.csv", ("grid-imbalanced",), B2_METRICS,
              ("GAN", "GAN + DMPRA"), n_minority=5),
    TableSpec("B2-grid-pooled", "results/B2-grid-pooled/per_seed.csv", ("grid-imbalanced",), B2_METRICS,
              ("GAN", "GAN + DMPRA"), n_minority=5),
    TableSpec("B3", "results/B3/per_seed.csv", ("digits-rare3",), B3_DENSITY_METRICS, B3_ROWS),
    TableSpec("B3-magnet", "results/B3/per_seed.csv", ("digits-rare3",), MAGNET_METRICS, B3_ROWS),
    TableSpec("B3-validation", "results/B3-validation/per_seed.csv", ("digits-rare3",), B3_DENSITY_METRICS, B3_ROWS),
    TableSpec("B3-fresh", "results/B3-fresh/per_seed.csv", ("digits-rare3",), B3_DENSITY_METRICS, B3_ROWS),
    TableSpec("B3-pooled", "results/B3-pooled/per_seed.csv", ("digits-rare3",), B3_DENSITY_METRICS, B3_ROWS),
    TableSpec("B4", "results/B4/per_seed.csv", ("mnist-rare3",), B3_DENSITY_METRICS, B4_ROWS),
    TableSpec("B4-magnet", "results/B4/per_seed.csv", ("mnist-rare3",), MAGNET_METRICS, B4_ROWS),
    TableSpec("B3-loci", "results/B3-loci/per_seed.csv", ("digits-rare3",), B3_METRICS),
    TableSpec("B3-loci-magnet", "results/B3-loci/per_seed.csv", ("digits-rare3",), MAGNET_METRICS),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on any difference")
    parser.add_argument("--collect", nargs=2, metavar=("SUITE_DIR", "CSV"),
                        help="write the per-seed CSV of every job result under SUITE_DIR, then update the tables")
    args = parser.parse_args()
    if args.collect:
        records = collect(Path(args.collect[0]))
        print(f"{len(records)} job results -> {write_per_seed(records, Path(args.collect[1]))}")
    source = Source(ROOT)
    if args.check:
        problems = check(DOC, ROOT, TABLES)
        numbers = [p for doc in PROSE for p in check_numbers(doc, ROOT, source)]
        for problem in problems + numbers:
            print(problem, file=sys.stderr)
        total = sum(count_numbers(doc) for doc in PROSE)
        print(f"{len(TABLES) - len(problems)} of {len(TABLES)} tables and {total - len(numbers)} of {total} "
              "prose numbers match their per-seed CSVs")
        return 1 if problems or numbers else 0
    names = update(DOC, ROOT, TABLES)
    try:
        counts = [update_numbers(doc, ROOT, source) for doc in PROSE]
    except ValueError as err:
        print(err, file=sys.stderr)
        return 1
    print(f"rewrote {len(names)} tables ({', '.join(names)}) and "
          + ", ".join(f"{n} numbers in {doc.relative_to(ROOT)}" for n, doc in zip(counts, PROSE)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
