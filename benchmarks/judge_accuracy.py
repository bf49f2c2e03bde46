"""The held-out accuracy of B3's and B4's judges (the classifiers that label generated digits).

Each judge is fitted on 80 % of its balanced set (``modecover.bench.digits``; the 8x8
digits for B3, the 5,000 MNIST digits of ``mnist-5k`` for B4) with seed 0, as every
benchmark job fits it, and scored on the other 20 %. Writes one JSON file:

    .venv/bin/python benchmarks/judge_accuracy.py --out results/judges.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from modecover.bench.digits import JUDGED_SOURCES, judge_for


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    found = {source: {"suite": "B3" if source == "digits" else "B4", "seed": args.seed,
                      "held_out_accuracy": round(judge_for(source, args.seed).test_accuracy, 4)}
             for source in JUDGED_SOURCES}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(found, indent=2) + "\n")
    print(json.dumps(found))


if __name__ == "__main__":
    main()
