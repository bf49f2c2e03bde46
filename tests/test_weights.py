"""``modecover.weights.cached_file`` against an HTTP server on 127.0.0.1 that the tests start
and stop: first use downloads and checks, later uses read the cache without a request,
offline mode, checksum mismatches, interrupted transfers and unwritable cache folders."""

import hashlib
import os
import socket
import sys
from pathlib import Path

import pytest

from helpers import local_http_server
from modecover import weights
from modecover.weights import ChecksumError, DownloadError, cache_dir, cached_file


@pytest.fixture
def server():
    """An HTTP server on 127.0.0.1 (a free port) in a thread, shut down after the test."""
    with local_http_server() as httpd:
        yield httpd


@pytest.fixture(autouse=True)
def clean_state(monkeypatch):
    """No cache or offline settings from the environment, and no file remembered as hashed."""
    monkeypatch.delenv(weights.CACHE_ENV, raising=False)
    monkeypatch.delenv(weights.OFFLINE_ENV, raising=False)
    monkeypatch.setattr(weights, "_verified", {})


def serve(server, name: str, body: bytes, how="ok") -> tuple[str, str]:
    server.files[f"/files/{name}"] = (body, how)
    return f"{server.url}/files/{name}", hashlib.sha256(body).hexdigest()


def listing(folder: Path) -> list[str]:
    """Every entry of ``folder``, hidden ones (temporary files) included."""
    return sorted(os.listdir(folder)) if folder.exists() else []


BODY = os.urandom(3 * (1 << 20) + 12345)  # over one read chunk, not a multiple of it


def test_first_use_downloads_checks_and_second_use_reads_the_cache(server, tmp_path, capsys):
    url, digest = serve(server, "w.pth", BODY)
    folder = tmp_path / "cache" / "nested"  # created on first use
    path = cached_file(url, digest, cache_dir=folder)
    assert path == folder / "w.pth" and path.read_bytes() == BODY
    assert server.requests == ["/files/w.pth"] and listing(folder) == ["w.pth"]
    assert "w.pth" in capsys.readouterr().err  # the progress bar, on stderr
    assert cached_file(url, digest, cache_dir=folder) == path
    assert len(server.requests) == 1
    # a new process hashes the cached copy again instead of downloading (here: forget the hash)
    weights._verified.clear()
    assert cached_file(url, digest[:8], cache_dir=folder, progress=False) == path
    assert len(server.requests) == 1 and weights._verified[path][0] == digest


def test_hash_prefix_and_explicit_file_name(server, tmp_path):
    url, digest = serve(server, "w.pth", BODY[:5000])
    path = cached_file(url, digest[:8].upper(), filename="inception.pth", cache_dir=tmp_path, progress=False)
    assert path == tmp_path / "inception.pth" and path.read_bytes() == BODY[:5000]
    with pytest.raises(ChecksumError, match=f"sha256 is {digest}"):
        cached_file(url, "%08x" % (int(digest[:8], 16) ^ 1), filename="other.pth", cache_dir=tmp_path, progress=False)


def test_a_changed_cached_file_is_fetched_again(server, tmp_path):
    url, digest = serve(server, "w.pth", BODY[:2048])
    path = cached_file(url, digest, cache_dir=tmp_path, progress=False)
    path.write_bytes(b"truncated")  # other size: hashed again, found wrong, replaced
    assert cached_file(url, digest, cache_dir=tmp_path, progress=False).read_bytes() == BODY[:2048]
    assert len(server.requests) == 2


def test_offline_names_the_file_the_url_and_the_folder(server, tmp_path, monkeypatch):
    url, digest = serve(server, "w.pth", BODY[:100])
    for kwargs, env in (({"offline": True}, None), ({}, "1"), ({}, "yes")):
        if env is not None:
            monkeypatch.setenv(weights.OFFLINE_ENV, env)
        with pytest.raises(FileNotFoundError) as info:
            cached_file(url, digest, cache_dir=tmp_path / "c", **kwargs)
        msg = str(info.value)
        assert "w.pth" in msg and url in msg and str(tmp_path / "c" / "w.pth") in msg and "local path" in msg
        assert "offline" in msg and digest in msg
    assert server.requests == [] and not (tmp_path / "c").exists()
    monkeypatch.setenv(weights.OFFLINE_ENV, "0")
    path = cached_file(url, digest, cache_dir=tmp_path / "c", progress=False)
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    weights._verified.clear()
    assert cached_file(url, digest, cache_dir=tmp_path / "c") == path  # cached: offline is fine
    assert cached_file(url, digest, cache_dir=tmp_path / "c", offline=False, progress=False) == path
    assert len(server.requests) == 1
    monkeypatch.setenv(weights.OFFLINE_ENV, "maybe")
    with pytest.raises(ValueError, match=r"\$MODECOVER_OFFLINE: expected 1/0 .* got 'maybe'"):
        cached_file(url, digest, cache_dir=tmp_path / "c")


def test_bad_checksum_raises_with_both_hashes_and_keeps_nothing(server, tmp_path):
    url, digest = serve(server, "w.pth", BODY)
    wrong = hashlib.sha256(b"another file").hexdigest()
    with pytest.raises(ChecksumError) as info:
        cached_file(url, wrong, cache_dir=tmp_path, progress=False)
    assert digest in str(info.value) and wrong in str(info.value) and "deleted" in str(info.value)
    assert isinstance(info.value, DownloadError) and isinstance(info.value, OSError)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("size", [10, 3 * (1 << 20) + 7])
def test_interrupted_transfer_raises_and_keeps_no_partial_file(server, tmp_path, size):
    url, digest = serve(server, "w.pth", BODY[:size], how="short")
    with pytest.raises(DownloadError, match=rf"broke off after {size} of {size + 1000} bytes") as info:
        cached_file(url, digest, cache_dir=tmp_path, progress=False)
    assert not isinstance(info.value, ChecksumError) and url in str(info.value)
    assert listing(tmp_path) == []
    server.files["/files/w.pth"] = (BODY[:size], "ok")  # a later try with the whole file works
    assert cached_file(url, digest, cache_dir=tmp_path, progress=False).read_bytes() == BODY[:size]


def test_http_error_and_no_server(server, tmp_path):
    with pytest.raises(DownloadError, match=r"HTTP 404") as info:
        cached_file(f"{server.url}/files/missing.pth", "ab" * 32, cache_dir=tmp_path, progress=False)
    assert str(tmp_path / "missing.pth") in str(info.value)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match=rf"cannot reach http://127.0.0.1:{port}/w.pth .*no network"):
        cached_file(f"http://127.0.0.1:{port}/w.pth", "ab" * 32, cache_dir=tmp_path, progress=False)
    assert listing(tmp_path) == []


def test_unwritable_cache_folder_is_named(server, tmp_path):
    url, digest = serve(server, "w.pth", BODY[:100])
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DownloadError, match=rf"cannot create the cache folder {blocker / 'c'}.*MODECOVER_CACHE"):
        cached_file(url, digest, cache_dir=blocker / "c", progress=False)
    if os.name == "posix" and os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(DownloadError, match=rf"cannot write in the cache folder {locked}"):
            cached_file(url, digest, cache_dir=locked, progress=False)
    assert server.requests == []


def test_cache_folder_from_the_environment_and_the_platform(server, tmp_path, monkeypatch):
    url, digest = serve(server, "w.pth", BODY[:100])
    monkeypatch.setenv(weights.CACHE_ENV, str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    assert cached_file(url, digest, progress=False) == tmp_path / "env" / "w.pth"
    monkeypatch.delenv(weights.CACHE_ENV)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    for platform, want in (("linux", tmp_path / "xdg" / "modecover"),
                           ("darwin", tmp_path / "home" / "Library" / "Caches" / "modecover"),
                           ("win32", tmp_path / "local" / "modecover" / "Cache")):
        monkeypatch.setattr(sys, "platform", platform)
        assert cache_dir() == want
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # ignored, as the XDG spec says
    assert cache_dir() == tmp_path / "home" / ".cache" / "modecover"


@pytest.mark.parametrize("kwargs, match", [
    (dict(sha256="xyz"), r"sha256 must be 8 to 64 hex digits.*'xyz'"),
    (dict(sha256="abc123"), r"sha256 must be 8 to 64 hex digits"),
    (dict(sha256="a" * 65), r"sha256 must be 8 to 64 hex digits"),
    (dict(filename="sub/w.pth"), r"filename must be a plain file name.*'sub/w.pth'"),
    (dict(filename=".hidden"), r"filename must be a plain file name"),
    (dict(url="ftp://127.0.0.1/w.pth"), r"url must be an http\(s\) or file URL"),
    (dict(url="http://127.0.0.1/"), r"filename must be a plain file name.*''"),
    (dict(offline="yes"), r"offline must be True, False or None"),
])
def test_bad_arguments_are_named(tmp_path, kwargs, match):
    args = dict(url="http://127.0.0.1:9/w.pth", sha256="ab" * 32, cache_dir=tmp_path) | kwargs
    with pytest.raises(ValueError, match=match):
        cached_file(args.pop("url"), args.pop("sha256"), **args)
