"""The report in a real headless Chromium: no console errors, every image loads, tables
show results.json's numbers.

Chromium is driven over the DevTools protocol through ``--remote-debugging-pipe``
(JSON messages, NUL-terminated, on file descriptors 3 and 4), so no Python browser
package is needed. Console errors are collected from three protocol events:
``Runtime.exceptionThrown`` (uncaught script errors), ``Runtime.consoleAPICalled`` with
type error/assert, and ``Log.entryAdded`` at level error (e.g. a resource that failed
to load). Without Chromium the tests skip locally and fail under CI=true or
MODECOVER_REQUIRE_BROWSER=1 (which .ci/run sets).
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from modecover.report import write_report
from test_report import as_dicts, documented_format, make_run_dir
from test_report_kinds import MAKERS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
INSTALL_HINT = "install it with `apt-get update && apt-get install -y chromium` (Debian/Ubuntu)"

if CHROMIUM is None:
    if os.environ.get("CI", "").lower() == "true" or os.environ.get("MODECOVER_REQUIRE_BROWSER") == "1":
        pytest.fail(f"Chromium not found in CI (.ci/run installs it); {INSTALL_HINT}", pytrace=False)
    pytest.skip(f"headless browser tests need Chromium, which is not on PATH; {INSTALL_HINT}", allow_module_level=True)


class Browser:
    """A headless Chromium speaking the DevTools protocol over a pipe."""

    def __init__(self, profile: Path, timeout: float = 60.0):
        self.timeout = timeout
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_fds():  # runs in the child before exec: commands on fd 3, replies on fd 4
            a, b = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-extensions", "--no-first-run",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4, to_browser_r, from_browser_w), preexec_fn=wire_fds,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        self.targets: dict[str, str] = {}  # session id -> its tab's target id

    def close(self):
        try:
            self.send("Browser.close")
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply from Chromium in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the DevTools pipe (exit code {self.process.poll()})")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> dict:
        deadline = time.monotonic() + self.timeout
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read_message(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def open(self, url: str, width: int | None = None, height: int = 900) -> str:
        """Open ``url`` in a new tab with console capture on; return the session id once loaded.

        ``width``: lay the page out in a viewport this many CSS pixels wide (a phone-like
        viewport, honouring the page's viewport meta tag, below 600 px)."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.targets[session] = target
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session=session)
        if width is not None:
            self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                              "mobile": width < 600}, session=session)
        self.events.clear()
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_for("Page.loadEventFired")
        return session

    def close_tab(self, session: str) -> None:
        self.send("Target.closeTarget", {"targetId": self.targets.pop(session)})

    def evaluate(self, session: str, expression: str):
        reply = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                          session=session)
        if "exceptionDetails" in reply:
            raise RuntimeError(f"evaluate failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def console_errors(self) -> list[str]:
        errors = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                errors.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append("console.error: "
                              + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                entry = params["entry"]
                errors.append(f"log ({entry['source']}): {entry['text']} {entry.get('url', '')}")
        return errors


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


IMAGES_JS = "Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth, i.naturalHeight])"
TABLES_JS = ("Object.fromEntries(Array.from(document.querySelectorAll('table')).map(t => "
             "[t.id, Array.from(t.rows).map(r => Array.from(r.cells).map(c => "
             "(c.tagName === 'TH' && c.getAttribute('title')) || c.textContent.trim()))]))")
RESOURCES_JS = "performance.getEntriesByType('resource').map(e => e.name)"


def load(browser: Browser, page: Path, width: int | None = None):
    session = browser.open(page.resolve().as_uri(), width)
    # A round trip after the load event lets late console events arrive before we look.
    browser.evaluate(session, "new Promise(r => setTimeout(r, 200))")
    return session


def test_report_loads_cleanly_in_chromium(tmp_path, browser):
    results = make_run_dir(tmp_path)
    page = write_report(tmp_path)
    session = load(browser, page)
    assert browser.console_errors() == []

    images = browser.evaluate(session, IMAGES_JS)
    assert len(images) == page.read_text().count("<img ") >= 11  # every figure the page names
    for src, complete, width, height in images:
        assert complete and width > 0 and height > 0, f"image {src} did not load"
    # Offline: every resource the page fetched is a local file.
    assert all(url.startswith("file://") for url in browser.evaluate(session, RESOURCES_JS))

    tables = browser.evaluate(session, TABLES_JS)
    metrics = {row["run"]: row for row in as_dicts(tables["metrics-table"])}
    for name, run in results["runs"].items():
        for metric, value in run["metrics"].items():
            assert metrics[name][metric] == documented_format(value)
    modes = as_dicts(tables["modes-table"])
    for j, row in enumerate(modes):
        for name, run in results["runs"].items():
            assert row[name] == documented_format(run["per_mode_share"][j])
    rounds = as_dicts(tables["rounds-table"])
    assert [row["recall"] for row in rounds] == [
        documented_format(r["metrics"]["recall"]) for run in results["runs"].values() for r in run["rounds"]
    ]


def test_detector_catches_broken_pages(tmp_path, browser):
    """The checks above would fail on a page with a missing image or a script error."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>x</title></head><body>"
        "<img src='missing.png'><script>console.error('boom'); undefined_function();</script></body></html>"
    )
    session = load(browser, page)
    errors = browser.console_errors()
    assert any("boom" in e for e in errors)
    assert any("undefined_function" in e for e in errors)
    assert any("missing.png" in e for e in errors)
    src, complete, width, _ = browser.evaluate(session, IMAGES_JS)[0]
    assert width == 0


def test_report_with_a_deleted_figure_is_caught(tmp_path, browser):
    make_run_dir(tmp_path)
    page = write_report(tmp_path)
    victim = sorted((tmp_path / "report_files").glob("*.png"))[0]
    victim.unlink()
    session = load(browser, page)
    assert any(victim.name in e for e in browser.console_errors())
    broken = [src for src, _, width, _ in browser.evaluate(session, IMAGES_JS) if width == 0]
    assert broken == [f"report_files/{victim.name}"]


WIDTHS = (1280, 390)  # a laptop and a phone
OVERFLOW_JS = "[document.documentElement.scrollWidth, window.innerWidth]"


@pytest.fixture(scope="module")
def kind_runs(tmp_path_factory) -> dict[str, Path]:
    """One real folder of each kind (the real commands on tiny inputs)."""
    root = tmp_path_factory.mktemp("kinds")
    return {kind: make(root) for kind, make in MAKERS.items()}


def screenshot(browser: Browser, session: str, path: Path) -> Path:
    data = browser.send("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
    path.write_bytes(base64.b64decode(data))
    return path


@pytest.mark.parametrize("kind", list(MAKERS))
def test_every_kind_fits_a_laptop_and_a_phone(kind, kind_runs, browser, tmp_path):
    """At 1,280 and 390 px: no sideways page scroll, no console error, every image loaded."""
    page = write_report(kind_runs[kind], tmp_path / f"{kind}.html")
    for width in WIDTHS:
        session = load(browser, page, width)
        assert browser.console_errors() == [], (kind, width)
        scroll_width, inner_width = browser.evaluate(session, OVERFLOW_JS)
        assert inner_width == width, f"{kind} at {width} px: the layout widened to {inner_width} px"
        assert scroll_width <= inner_width, f"{kind} at {width} px scrolls sideways ({scroll_width} px wide)"
        images = browser.evaluate(session, IMAGES_JS)
        assert len(images) == page.read_text().count("<img ") > 0
        for src, complete, natural_width, _ in images:
            assert complete and natural_width > 0, f"{kind} at {width} px: image {src} did not load"
        shot = screenshot(browser, session, tmp_path / f"{kind}-{width}.png")
        assert shot.stat().st_size > 1000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        browser.close_tab(session)


def test_overflow_check_catches_a_page_wider_than_a_phone(tmp_path, browser):
    """The sideways-scroll check above fails on a page whose table is wider than the screen
    (a phone viewport widens its layout to the content, so innerWidth grows past 390 px)."""
    page = tmp_path / "wide.html"
    page.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'><title>x</title>"
                    "<meta name='viewport' content='width=device-width, initial-scale=1'></head><body>"
                    "<table><tr><td style='white-space:nowrap'>" + "wide " * 200 + "</td></tr></table></body></html>")
    session = load(browser, page, 390)
    scroll_width, inner_width = browser.evaluate(session, OVERFLOW_JS)
    assert scroll_width > 390 and not (inner_width == 390 and scroll_width <= inner_width)
    browser.close_tab(session)
