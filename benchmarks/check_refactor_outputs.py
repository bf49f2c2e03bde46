"""Do two source trees of modecover compute the same outputs? A check for refactors.

Runs the same computations on the same inputs in two subprocesses, one per tree (each with
``PYTHONPATH`` set to that tree's ``src``), hashes every output array's bytes (sha256) and
writes a JSON table ``{name: {before, after, equal}}`` with the timings (median of
``--repeats`` runs of each side, interleaved before / after, one thread each; wall time and
the process's CPU time, which a busy machine disturbs less):

- ``prdc``: precision, recall, density, coverage (``modecover.metrics.prdc``, k = 5) of two
  5,000 x 64 float32 Gaussian sets (the recipe of ``bench_prdc.py``: seeds 0 and 1, the fake
  set scaled by 1.05 and shifted by 0.02);
- ``knn``: the exact k-NN distances and indices (``modecover.neighbors.knn``, k = 5) of the
  real set within itself and of the fake set among the real set;
- ``fid``: FID from the same features by both routes (covariance on all rows, Gram on the
  first 1,000 rows of each set);
- ``loci``: the DMPRA LOCI search (``modecover.dmpra.search``, default settings) on 5,000
  points of the imbalanced ring (data seed 0): score, minority and radius per point;
- ``density``: the density detector's weights (``modecover.dmpra.density``, default
  settings) on the digits' pixels (1,797 x 64), when both trees have it.

The ring and the digits are made once by the ``--after`` tree and saved, so both sides read
the same bytes (their hashes are in the table too). Each run's outputs must hash the same in
every repeat of a side (else the side is not deterministic and the run stops), and each side
must import the modecover of its own tree. ``--n`` makes smaller sets for a quick look.

    OMP_NUM_THREADS=1 python benchmarks/check_refactor_outputs.py --before /tmp/before/src \\
        --after /tmp/after/src --out results/refactor/outputs_before_after.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _inputs import gaussian_features  # bench_prdc.py's inputs

N, D, K = 5000, 64, 5  # rows (--n), width, neighbours
GRAM_ROWS = 1000  # the Gram route's eigendecomposition is O(n^3): 5,000 rows would take 25 s a side
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MODECOVER_TEST_THREADS")


def digest(array) -> str:
    """sha256 of the array's bytes, with its dtype and shape (so a reshaped or retyped array differs)."""
    a = np.ascontiguousarray(np.asarray(array))
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


# --- in the subprocess (modecover is the tree on PYTHONPATH) -----------------------------------


def prepare(path: Path, n: int) -> None:
    """Write the inputs that come from modecover itself: the imbalanced ring and the digits."""
    from modecover.data import imbalanced_ring, load_digits

    ring, _ = imbalanced_ring().sample(n, seed=0)
    digits, _ = load_digits()
    np.savez(path, ring=ring, digits=digits.numpy().reshape(len(digits), -1))


def compute(inputs: Path, n: int) -> dict:
    """Every computation once: ``{"outputs": {name: sha256}, "values": {...}, "seconds": {...}}``."""
    import torch

    torch.set_num_threads(1)
    from modecover.dmpra import SearchConfig, search
    from modecover.metrics import fid, prdc
    from modecover.neighbors import knn

    saved = np.load(inputs)
    real, fake = gaussian_features(n, D, 0), gaussian_features(n, D, 1, scale=1.05, shift=0.02)
    ring, digits = saved["ring"], saved["digits"]
    outputs: dict[str, str] = {}
    values: dict[str, object] = {}
    seconds: dict[str, float] = {}
    cpu_seconds: dict[str, float] = {}

    def timed(name, fn):
        start, cpu = time.perf_counter(), time.process_time()
        result = fn()
        seconds[name], cpu_seconds[name] = time.perf_counter() - start, time.process_time() - cpu
        return result

    got = timed("prdc", lambda: prdc(real, fake, k=K, threads=1))
    keys = ("precision", "recall", "density", "coverage")
    outputs["prdc (precision, recall, density, coverage)"] = digest(np.array([got[k] for k in keys], np.float64))
    values["prdc"] = {k: float(got[k]) for k in keys}
    for name, query, data in (("knn within the real set", real, None), ("knn of fake among real", fake, real)):
        dist, idx = timed(name, lambda: knn(query, data, k=K, threads=1))
        outputs[f"{name}: distances"], outputs[f"{name}: indices"] = digest(dist), digest(idx)
    gram_rows = min(GRAM_ROWS, n)
    for name, route, rows in (("fid (covariance)", "covariance", n), (f"fid (gram, first {gram_rows} rows)", "gram",
                                                                       gram_rows)):
        value = timed(name, lambda: fid(real[:rows], fake[:rows], route=route))
        outputs[name] = digest(np.float64(value))
        values[name] = float(value)
    found = timed("loci search on the ring", lambda: search(ring, SearchConfig()))
    for field in ("score", "minority", "radius"):
        outputs[f"loci search on the ring: {field}"] = digest(getattr(found, field))
    values["loci search on the ring: minority count"] = int(np.asarray(found.minority).sum())
    try:
        from modecover.dmpra.density import DensityConfig, density_weights
    except ImportError:
        values["density"] = "modecover.dmpra.density is not in this tree"
    else:
        result = timed("density weights on the digits", lambda: density_weights(digits, DensityConfig()))
        outputs["density weights on the digits"] = digest(result.weights)
        values["density weights on the digits: raised count"] = int(np.asarray(result.raised).sum())
    import modecover

    return {"outputs": outputs, "values": values, "seconds": seconds, "cpu_seconds": cpu_seconds,
            "modecover": modecover.__file__}


# --- in the parent --------------------------------------------------------------------------


def run_child(tree: Path, *args: str) -> dict | None:
    env = {**os.environ, "PYTHONPATH": str(tree), **{v: os.environ.get(v, "1") for v in THREAD_VARIABLES}}
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--child", *args, "--result", str(result)]
        subprocess.run(command, env=env, check=True, cwd=tmp)  # cwd: the tree on PYTHONPATH is the only modecover
        return json.loads(result.read_text()) if result.exists() else None


def commit_of(tree: Path) -> str | None:
    done = subprocess.run(["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="the src folder of the tree before")
    parser.add_argument("--after", type=Path, help="the src folder of the tree after")
    parser.add_argument("--out", type=Path, default=Path("results/refactor/outputs_before_after.json"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n", type=int, default=N, help="rows of the Gaussian sets and of the ring")
    parser.add_argument("--child", choices=("prepare", "compute"), help=argparse.SUPPRESS)
    parser.add_argument("--inputs", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "prepare":
        prepare(args.inputs, args.n)
        return
    if args.child == "compute":
        args.result.write_text(json.dumps(compute(args.inputs, args.n)))
        return
    if args.before is None or args.after is None:
        parser.error("--before and --after (each a checkout's src folder) are required")
    for side in ("before", "after"):
        tree = getattr(args, side)
        if not (tree / "modecover" / "__init__.py").is_file():
            parser.error(f"--{side} {tree}: no modecover/__init__.py there; give a checkout's src folder")
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.n < 2 * K + 2:
        parser.error(f"--n must be >= {2 * K + 2} (k = {K} neighbours in each set), got {args.n}")

    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "inputs.npz"
        run_child(args.after.resolve(), "prepare", "--inputs", str(inputs), "--n", str(args.n))
        saved = np.load(inputs)
        fake = gaussian_features(args.n, D, 1, 1.05, 0.02)
        input_hashes = {f"real ({args.n} x {D} float32, seed 0)": digest(gaussian_features(args.n, D, 0)),
                        f"fake ({args.n} x {D} float32, seed 1, x1.05 + 0.02)": digest(fake),
                        f"imbalanced ring ({args.n} x 2, data seed 0)": digest(saved["ring"]),
                        "digits pixels (1797 x 64)": digest(saved["digits"])}
        runs: dict[str, list[dict]] = {"before": [], "after": []}
        for _ in range(args.repeats):  # interleaved: before, after, before, after, ...
            for side in ("before", "after"):
                tree = getattr(args, side).resolve()
                runs[side].append(run_child(tree, "compute", "--inputs", str(inputs), "--n", str(args.n)))
                if not Path(runs[side][-1]["modecover"]).resolve().is_relative_to(tree):
                    raise SystemExit(f"{side}: imported {runs[side][-1]['modecover']}, not the modecover of {tree}")
                took = runs[side][-1]["seconds"]
                print(f"{side}: " + ", ".join(f"{k} {v:.3f} s" for k, v in took.items()), flush=True)

    for side, results in runs.items():
        for other in results[1:]:
            if other["outputs"] != results[0]["outputs"]:
                changed = sorted(k for k in other["outputs"] if other["outputs"][k] != results[0]["outputs"].get(k))
                raise SystemExit(f"{side}: outputs differ between repeats ({changed}): not deterministic")
    before, after = runs["before"][0], runs["after"][0]
    names = list(dict.fromkeys([*before["outputs"], *after["outputs"]]))
    table = {name: {"before": before["outputs"].get(name), "after": after["outputs"].get(name),
                    "equal": (before["outputs"].get(name) == after["outputs"].get(name)
                              if name in before["outputs"] and name in after["outputs"] else None)}
             for name in names}
    timings = {name: {side: {"median_s": round(statistics.median(r["seconds"][name] for r in runs[side]), 4),
                             "runs_s": [round(r["seconds"][name], 4) for r in runs[side]],
                             "median_cpu_s": round(statistics.median(r["cpu_seconds"][name] for r in runs[side]), 4),
                             "cpu_runs_s": [round(r["cpu_seconds"][name], 4) for r in runs[side]]}
                      for side in ("before", "after") if name in runs[side][0]["seconds"]}
               for name in dict.fromkeys([*before["seconds"], *after["seconds"]])}
    for sides in timings.values():
        if len(sides) == 2:
            sides["after / before (wall)"] = round(sides["after"]["median_s"] / sides["before"]["median_s"], 3)
            sides["after / before (cpu)"] = round(sides["after"]["median_cpu_s"] / sides["before"]["median_cpu_s"], 3)
    report = {
        "outputs": table,
        "all_equal": all(row["equal"] for row in table.values() if row["equal"] is not None),
        "only_in_one_tree": [name for name, row in table.items() if row["equal"] is None],
        "values": {"before": before["values"], "after": after["values"]},
        "timings": timings,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,  # at the end: how busy the machine was
        "inputs_sha256": input_hashes,
        "trees": {side: {"src": str(getattr(args, side)), "commit": commit_of(getattr(args, side))}
                  for side in ("before", "after")},
        "settings": {"n": args.n, "d": D, "k": K, "repeats": args.repeats, "threads": 1,
                     "environment": {v: os.environ.get(v, "1") for v in THREAD_VARIABLES},
                     "python": platform.python_version(), "numpy": np.__version__,
                     "command": " ".join(["python", "benchmarks/check_refactor_outputs.py", *(argv or sys.argv[1:])])},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    for name, row in table.items():
        print(f"{'same' if row['equal'] else 'DIFFERS' if row['equal'] is False else 'one tree only'}: {name}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
