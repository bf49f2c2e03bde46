"""What a timing ran on, and where a benchmark's raw timings go.

``write_timings("bench_fid", {...}, settings=vars(args))`` writes
``results/timings/bench_fid.json`` (``$MODECOVER_TIMINGS_DIR`` instead of
``results/timings`` when set): the benchmark's name, the command-line settings, the raw
timings as the benchmark measured them (every repeat, in seconds unless a key says
otherwise) and :func:`machine`, the description of the machine at the time of writing.
The CPU flags ``avx512_bf16`` and ``amx_bf16`` are the ones that choose the bfloat16 tile
products of the neighbour engine (float32 without them), so a PRDC timing is only
comparable between machines with the same ``products`` entry.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def _cpuinfo(path: Path = Path("/proc/cpuinfo")) -> tuple[str, list[str]]:
    """(model name, flags) of the first processor in ``path``; ("", []) where there is none."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return platform.processor(), []
    field = lambda key: next((l.split(":", 1)[1].strip() for l in lines if l.split(":")[0].strip() == key), "")  # noqa: E731,E741
    return field("model name") or platform.processor(), field("flags").split()


def machine(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """Cores, CPU model, the bfloat16 flags (and the products path they choose), torch, the
    load average and the UTC time, as a JSON-ready dict."""
    import torch

    model, flags = _cpuinfo(cpuinfo)
    bf16 = [f for f in BF16_FLAGS if f in flags]
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        cores = os.cpu_count() or 1
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - no load average on this platform
        load = None
    return {
        "cores": cores,
        "logical_cpus": os.cpu_count(),
        "cpu_model": model,
        "bf16_flags": bf16,
        "products": "bfloat16" if bf16 else "float32",
        "torch": torch.__version__,
        "torch_threads_when_written": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1_5_15": load,
        "utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def timings_dir() -> Path:
    """``$MODECOVER_TIMINGS_DIR`` if set, else ``results/timings`` of this repository."""
    return Path(os.environ.get("MODECOVER_TIMINGS_DIR") or ROOT / "results" / "timings")


def write_timings(bench: str, timings: dict, settings: dict | None = None) -> Path:
    """Write ``<timings_dir>/<bench>.json`` (replacing an earlier run's) and say so on stderr."""
    if not bench or "/" in bench or bench.startswith("."):
        raise ValueError(f"bench: expected a file stem like 'bench_fid', got {bench!r}")
    record = {"bench": bench, "command": [Path(sys.argv[0]).name, *sys.argv[1:]], "settings": settings or {},
              "machine": machine(), "timings": timings}
    text = json.dumps(record, indent=1, default=_plain)  # fails here, before the file is touched
    path = timings_dir() / f"{bench}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text + "\n")
    tmp.replace(path)
    print(f"raw timings and machine: {path}", file=sys.stderr)
    return path


def _plain(value):
    """numpy scalars and arrays, paths: as JSON numbers, lists and strings."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"write_timings: cannot write a {type(value).__name__} as JSON ({value!r})")
