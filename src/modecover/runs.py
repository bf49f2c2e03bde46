"""Run folders: which command owns an ``--out`` folder, and one run at a time in it.

Every command that writes a run folder (``train``, ``bench``, ``demo``, ``audit``) claims it with
:func:`claim_run_folder` before writing anything:

- an **empty or new** folder is taken: ``run.json`` records the command and its kind
  (``train``: the model family) and the package version;
- a folder holding **the same command's run of the same kind** is continued when the
  caller resumes (``train --resume``; ``bench`` always resumes), else refused naming
  ``--resume`` and ``--overwrite``;
- a folder holding **another modecover run** (another command, or ``train`` of another
  model family) is refused, naming what it holds; ``--overwrite`` empties it first;
- a non-empty folder **no modecover run wrote** (no ``run.json``) is always refused and
  never emptied, so a mistyped ``--out`` cannot delete a user's files.

Folders written before ``run.json`` existed are recognised by what their command always
wrote: ``train``'s ``config.json`` beside a checkpoint, ``bench``'s suite folders (``B1``,
``B2``, ``B3``) and nothing else, ``demo``'s ``results.json``, ``audit``'s ``audit.csv``
beside its ``summary.json``.

A lock file (``.modecover.lock``, holding the owner's pid and command) makes a second
run into a folder in use fail at once with a clear message. The lock is an exclusive
``fcntl.flock`` on that file, so the kernel drops it when the owning process ends, however
it ends: a lock left by a killed process never blocks a later run. Processes forked by the
owner (the demo's and the benchmark's workers) share it until they end as well.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

RUN_FILE = "run.json"
LOCK_FILE = ".modecover.lock"

__all__ = ["LOCK_FILE", "RUN_FILE", "RunClaim", "RunFolderError", "RunOwner", "claim_run_folder", "read_owner"]


class RunFolderError(RuntimeError):
    """A run folder cannot be used as asked; the message names the folder and what to do."""


@dataclass(frozen=True)
class RunOwner:
    """Who wrote a run folder: the command and, where a command has several, the kind
    (``train``: the model family)."""

    command: str
    kind: str | None = None

    def describe(self, article: str = "a") -> str:
        return f"{article} '{self.command}' run" + (f" of a '{self.kind}' model" if self.kind else "")


def read_owner(folder: Path) -> RunOwner | None:
    """The owner recorded in ``folder`` (``run.json``, or what an older run left there);
    None when no modecover run wrote it."""
    marker = folder / RUN_FILE
    if marker.is_file():
        try:
            data = json.loads(marker.read_text())
            return RunOwner(str(data["command"]), data.get("kind"))
        except (ValueError, KeyError, TypeError) as err:
            raise RunFolderError(f"{marker}: unreadable run record ({err}); remove the folder or choose another --out"
                                 ) from err
    return _older_owner(folder)


BENCH_SUITES = ("B1", "B2", "B3", "B4")  # modecover.cli.bench.SUITES: OUT/<suite>/... folders


def _older_owner(folder: Path) -> RunOwner | None:
    """Folders written before ``run.json`` existed: ``train`` (``config.json`` and a
    checkpoint), ``bench`` (nothing but suite folders), ``demo`` (its ``results.json``),
    ``audit`` (``audit.csv`` and a ``summary.json`` with the audit's keys)."""
    config = folder / "config.json"
    if config.is_file() and any((folder / name).is_file() for name in ("last.ckpt", "final.ckpt")):
        try:
            return RunOwner("train", str(json.loads(config.read_text())["model"]["family"]))
        except (ValueError, KeyError, TypeError):
            return None
    names = _contents(folder)
    if names and all(name in BENCH_SUITES and (folder / name).is_dir() for name in names):
        return RunOwner("bench")
    results = folder / "results.json"
    if results.is_file():
        try:
            title = json.loads(results.read_text()).get("title", "")
        except (ValueError, AttributeError):
            return None
        if isinstance(title, str) and title.startswith("modecover demo"):
            return RunOwner("demo")
    summary = folder / "summary.json"
    if (folder / "audit.csv").is_file() and summary.is_file():
        try:
            keys = json.loads(summary.read_text()).keys()
        except (ValueError, AttributeError):
            return None
        if {"n_minority", "settings"} <= keys:
            return RunOwner("audit")
    return None


def _contents(folder: Path) -> list[str]:
    """Names in ``folder`` other than the lock file (empty when the folder does not exist)."""
    if not folder.is_dir():
        return []
    return sorted(name for name in os.listdir(folder) if name != LOCK_FILE)


def _listing(names: list[str], shown: int = 4) -> str:
    more = f", ... ({len(names)} entries)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


class RunClaim:
    """The claim on a run folder: holds its lock until :meth:`release` (or the end of a
    ``with`` block, or of the process). ``resumed``: the folder already held this
    command's run of this kind, which the caller continues."""

    def __init__(self, folder: Path, owner: RunOwner, fd: int | None, resumed: bool):
        self.folder, self.owner, self._fd, self.resumed = folder, owner, fd, resumed

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> "RunClaim":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _lock(folder: Path, owner: RunOwner) -> int | None:
    """Take the folder's lock without waiting; None where ``fcntl`` does not exist."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: runs are not locked
        return None
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = os.read(fd, 4096).decode(errors="replace").strip() or "unknown process"
        finally:
            os.close(fd)
        raise RunFolderError(
            f"{folder}: in use by another modecover run ({holder}); wait for it to finish or choose another --out"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()}, modecover {owner.command}, since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
    return fd


def _empty(folder: Path) -> None:
    for name in _contents(folder):
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def claim_run_folder(folder, command: str, kind: str | None = None, *, resume: bool = False,
                     overwrite: bool = False, resumable: bool = True) -> RunClaim:
    """Claim ``folder`` for ``command`` (of ``kind``), per the module rules; raise
    :class:`RunFolderError` naming the folder and the flags that would help.

    ``resume``: continue this command's earlier run of the same kind found there.
    ``overwrite``: empty a folder that holds a modecover run first. ``resumable``: the
    command has a ``--resume`` flag (errors mention it only then).
    """
    folder = Path(folder)
    me = RunOwner(command, kind)
    if resume and overwrite:
        raise RunFolderError(f"{folder}: --resume continues the run there and --overwrite replaces it; pass one")
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"{folder}: exists and is not a folder; choose another --out")
    names = _contents(folder)
    if names and read_owner(folder) is None:  # refuse before writing a lock file into a stranger's folder
        raise RunFolderError(
            f"{folder}: not empty ({_listing(names)}) and no modecover run wrote it (no {RUN_FILE}); "
            "choose an empty or new --out folder" + (" (--overwrite empties only modecover run folders)"
                                                    if overwrite else "")
        )
    folder.mkdir(parents=True, exist_ok=True)
    fd = _lock(folder, me)
    try:
        names = _contents(folder)  # again, under the lock
        found = read_owner(folder) if names else None
        resumed = False
        if names:
            if found is None:
                raise RunFolderError(f"{folder}: not empty ({_listing(names)}) and no modecover run wrote it; "
                                     "choose an empty or new --out folder")
            if overwrite:
                _empty(folder)
            elif found != me:
                raise RunFolderError(f"{folder}: holds {found.describe()}, not {me.describe()}; choose another --out, "
                                     "or pass --overwrite to replace it")
            elif not resume:
                hint = "pass --resume to continue it or --overwrite to replace it" if resumable else \
                    "pass --overwrite to replace it or choose another --out"
                raise RunFolderError(f"{folder}: holds {found.describe('an earlier')}; {hint}")
            else:
                resumed = True
        if not resumed:
            from importlib.metadata import PackageNotFoundError, version

            try:
                package = version("modecover")
            except PackageNotFoundError:  # pragma: no cover - running from a source tree
                package = None
            record = {"command": command, "kind": kind, "modecover": package,
                      "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            from modecover.io import write_atomic

            write_atomic(folder / RUN_FILE, json.dumps(record, indent=1) + "\n")
    except BaseException:
        if fd is not None:
            os.close(fd)
        raise
    return RunClaim(folder, me, fd, resumed)
