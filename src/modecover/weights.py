"""Weights files fetched once over HTTPS, checked by sha256 and kept in a user cache folder.

:func:`cached_file` is what the feature extractors call for their pretrained weights: the
first call downloads the file (to a temporary file in the cache folder, then checks its
sha256, then renames it into place, so a file under its final name is always complete and
checked), later calls return the cached copy. A cached file is hashed once per process (and
again only when its size or modification time changes); a copy whose hash does not match is
deleted and fetched again. Offline mode (``offline=True`` or ``$MODECOVER_OFFLINE=1``) never
touches the network and says which file to put where. Only the standard library's
``urllib`` is used for the transfer; the progress bar is rich's, on stderr.

The cache folder (:func:`cache_dir`): ``$MODECOVER_CACHE`` if set, else the platform's user
cache folder: ``$XDG_CACHE_HOME/modecover`` or ``~/.cache/modecover`` on Linux,
``~/Library/Caches/modecover`` on macOS, ``%LOCALAPPDATA%\\modecover\\Cache`` on Windows.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

__all__ = ["CACHE_ENV", "OFFLINE_ENV", "ChecksumError", "DownloadError", "cache_dir", "cached_file", "file_sha256",
           "offline_mode"]

CACHE_ENV = "MODECOVER_CACHE"
OFFLINE_ENV = "MODECOVER_OFFLINE"

_CHUNK = 1 << 20
_TIMEOUT_S = 60.0
_HEX = re.compile(r"[0-9a-f]{8,64}")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}

# path -> (sha256 it matched, size, mtime_ns) of the cached files hashed in this process
_verified: dict[Path, tuple[str, int, int]] = {}


class DownloadError(OSError):
    """A file could not be fetched: no network, an HTTP error, an interrupted transfer,
    a checksum mismatch or a cache folder that cannot be written. The message names the
    URL, the file and what to do instead (download by hand, pass a local path)."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not have the pinned sha256; the file was deleted."""


def offline_mode(offline: bool | None = None) -> bool:
    """``offline`` if given, else whether ``$MODECOVER_OFFLINE`` is set to a true value
    (``1``, ``true``, ``yes``, ``on``; ``0``, ``false``, ``no``, ``off`` or empty are false,
    anything else is an error naming the variable)."""
    if offline is not None:
        if not isinstance(offline, bool):
            raise ValueError(f"offline must be True, False or None, got {offline!r}")
        return offline
    text = os.environ.get(OFFLINE_ENV, "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"${OFFLINE_ENV}: expected 1/0 (or true/false, yes/no, on/off), got {os.environ[OFFLINE_ENV]!r}")


def cache_dir() -> Path:
    """The folder the weights files are cached in: ``$MODECOVER_CACHE``, else the platform's
    user cache folder (module docstring). Not created here."""
    return _default_cache_dir()


def _default_cache_dir() -> Path:  # cached_file's argument ``cache_dir`` hides the function above
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "modecover" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "modecover"
    xdg = os.environ.get("XDG_CACHE_HOME")
    # the XDG spec ignores a relative $XDG_CACHE_HOME
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "modecover"


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes, as 64 lowercase hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_sha256(sha256: str) -> str:
    if not isinstance(sha256, str) or not _HEX.fullmatch(sha256.lower()):
        raise ValueError(f"sha256 must be 8 to 64 hex digits (a full hash or a prefix of one), got {sha256!r}")
    return sha256.lower()


def _file_name(url: str, filename: str | None) -> str:
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https", "file"):
        raise ValueError(f"url must be an http(s) or file URL, got {url!r}")
    name = filename if filename is not None else urllib.parse.unquote(Path(urllib.parse.urlsplit(url).path).name)
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name \
            or name.startswith("."):
        raise ValueError(f"filename must be a plain file name (no folder, not hidden), got {name!r} for {url}")
    return name


def _matches(digest: str, sha256: str) -> bool:
    return digest.startswith(sha256)


def _pinned(sha256: str) -> str:
    return f"sha256 {sha256}" if len(sha256) == 64 else f"sha256 starting {sha256}"


def _where_to_put(target: Path, url: str) -> str:
    return (f"Download {url} on a machine with internet and copy it to {target} "
            f"(or pass the file's local path instead)")


def cached_file(url: str, sha256: str, *, filename: str | None = None, offline: bool | None = None,
                progress: bool = True, cache_dir: str | os.PathLike | None = None) -> Path:
    """The path of the file at ``url`` in the cache folder, downloaded on first use.

    ``sha256``: the file's sha256 as 64 hex digits, or its first 8+ digits (torch.hub's
    convention for the hash in a weights file name) when no full hash is published.
    ``filename``: the name in the cache folder (default: the URL's last path segment).
    ``offline``: forbid network access (default: ``$MODECOVER_OFFLINE``); a file not yet
    cached is then a ``FileNotFoundError`` naming the file, the URL and where to put it.
    ``progress``: a progress bar on stderr while downloading. ``cache_dir``: the folder
    (default: :func:`cache_dir`).

    Raises :class:`DownloadError` (an ``OSError``) when the file cannot be fetched: no
    network, an HTTP error status, a transfer shorter than its Content-Length, a cache
    folder that cannot be written (named); :class:`ChecksumError` when the bytes do not
    match ``sha256`` (the file is deleted, both hashes are given). No partial file is ever
    left under the final name.
    """
    sha256 = _check_sha256(sha256)
    name = _file_name(url, filename)
    offline = offline_mode(offline)
    folder = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir()
    target = folder / name
    if target.is_file() and _cached_ok(target, sha256):
        return target
    if offline:
        raise FileNotFoundError(
            f"{name} is not in the cache folder {folder} and offline mode is on "
            f"(offline=True or ${OFFLINE_ENV}). {_where_to_put(target, url)}; the file's {_pinned(sha256)}."
        )
    _make_folder(folder)
    _download(url, target, sha256, progress)
    return target


def _cached_ok(target: Path, sha256: str) -> bool:
    """Whether the cached ``target`` has ``sha256`` (hashed once per process and size/mtime);
    a mismatching copy is deleted so it is fetched again."""
    stat = target.stat()
    seen = _verified.get(target)
    if seen is not None and seen[1:] == (stat.st_size, stat.st_mtime_ns) and _matches(seen[0], sha256):
        return True
    digest = file_sha256(target)
    if _matches(digest, sha256):
        _verified[target] = (digest, stat.st_size, stat.st_mtime_ns)
        return True
    _verified.pop(target, None)
    try:
        target.unlink()
    except OSError as err:
        raise DownloadError(f"{target}: the cached file's sha256 is {digest}, not the pinned {sha256}, "
                            f"and it cannot be deleted ({err}); delete it by hand") from err
    return False


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(
            f"cannot create the cache folder {folder} ({type(err).__name__}: {err}); "
            f"set ${CACHE_ENV} to a writable folder or pass a local weights file"
        ) from err
    if not folder.is_dir():
        raise DownloadError(f"the cache folder {folder} is not a folder; set ${CACHE_ENV} to a writable folder")


def _download(url: str, target: Path, sha256: str, progress: bool) -> None:
    """Fetch ``url`` into a temporary file beside ``target``, check it, rename it into place."""
    folder = target.parent
    try:
        handle, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    except OSError as err:
        raise DownloadError(
            f"cannot write in the cache folder {folder} ({type(err).__name__}: {err}); "
            f"set ${CACHE_ENV} to a writable folder or pass a local weights file"
        ) from err
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            digest, size = _transfer(url, target, out, progress)
        if not _matches(digest, sha256):
            raise ChecksumError(
                f"{url}: the downloaded file's sha256 is {digest} ({size} bytes), not the pinned {sha256}; "
                f"the file was deleted. The server sent other bytes than the published file (a proxy's page, "
                f"a changed release); {_where_to_put(target, url)}"
            )
        os.replace(tmp, target)
        stat = target.stat()
        _verified[target] = (digest, stat.st_size, stat.st_mtime_ns)
    finally:
        tmp.unlink(missing_ok=True)


def _transfer(url: str, target: Path, out, progress: bool) -> tuple[str, int]:
    """Write the body of ``url`` to ``out``; return its sha256 and size. Raises
    :class:`DownloadError` for network errors, HTTP errors, short transfers and writes
    that fail in the cache folder."""
    from modecover import __version__

    request = urllib.request.Request(url, headers={"User-Agent": f"modecover/{__version__}"})
    digest = hashlib.sha256()
    received = 0
    expected = None

    def keep(chunk: bytes) -> None:
        nonlocal received
        try:
            out.write(chunk)
        except OSError as err:
            raise DownloadError(f"cannot write {target.name} in the cache folder {target.parent} "
                                f"({type(err).__name__}: {err}); set ${CACHE_ENV} to a writable folder "
                                f"with room, or pass a local weights file") from err
        digest.update(chunk)
        received += len(chunk)

    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.strip().isdigit() else None
            with _progress_bar(progress, target.name, expected) as advance:
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except http.client.IncompleteRead as err:  # the body ended before Content-Length
                        keep(err.partial)
                        break
                    if not chunk:
                        break
                    keep(chunk)
                    advance(len(chunk))
    except DownloadError:
        raise
    except urllib.error.HTTPError as err:
        raise DownloadError(f"{url}: the server answered HTTP {err.code} {err.reason}. "
                            f"{_where_to_put(target, url)}") from err
    except urllib.error.URLError as err:
        raise DownloadError(f"cannot reach {url} ({err.reason}): no network, or a proxy or firewall in the "
                            f"way. {_where_to_put(target, url)}") from err
    except (OSError, http.client.HTTPException) as err:  # reset, timeout, bad response mid-transfer
        raise DownloadError(_broke_off(url, target, received, expected, f"{type(err).__name__}: {err}")) from err
    if expected is not None and received != expected:
        raise DownloadError(_broke_off(url, target, received, expected, f"the server promised {expected}"))
    return digest.hexdigest(), received


def _broke_off(url: str, target: Path, received: int, expected: int | None, why: str) -> str:
    of = f" of {expected}" if expected is not None else ""
    return (f"{url}: the transfer broke off after {received}{of} bytes ({why}); nothing was kept in "
            f"{target.parent}. Try again, or: {_where_to_put(target, url)}")


class _progress_bar:
    """A context manager yielding ``advance(n_bytes)``: rich's bar on stderr, or nothing."""

    def __init__(self, show: bool, name: str, total: int | None):
        self.show, self.name, self.total = show, name, total
        self.progress = None

    def __enter__(self):
        if not self.show:
            return lambda n: None
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        self.progress = Progress(TextColumn("downloading {task.description}"), BarColumn(), DownloadColumn(),
                                 TransferSpeedColumn(), console=Console(stderr=True), transient=False)
        self.progress.start()
        task = self.progress.add_task(self.name, total=self.total)
        return lambda n: self.progress.advance(task, n)

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()
        return False
