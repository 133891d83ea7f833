"""Headless Chromium driven over the DevTools protocol, for page tests (``from chromium_helper import ...``).

Needs Debian's chromium (``make test-tools`` installs it); :func:`chromium_path` skips the test, saying
why, when none is found. WebGL runs on SwiftShader (software), so frame rates here say nothing about a
real GPU.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader", "--hide-scrollbars", "--mute-audio",
)  # fmt: skip


def chromium_path() -> str:
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium found (apt-get install -y --no-install-recommends chromium, or make test-tools); the page check needs it")


class Page:
    """One headless Chromium with one page at ``url``; ``evaluate`` runs JavaScript (awaiting promises)."""

    def __init__(self, url: str, profile: Path, width: int = 640, height: int = 640, timeout: float = 60.0) -> None:
        from websockets.sync.client import connect

        profile.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [chromium_path(), *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        self._ids = itertools.count(1)
        self.console: list[str] = []
        try:
            port = self._devtools_port(profile, timeout)
            targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
            page = next(t for t in targets if t.get("type") == "page")
            self.ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=timeout)
            self.call("Runtime.enable")
            self.call("Page.enable")
            self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
            self.call("Page.navigate", url=url)
        except BaseException:
            self.close()
            raise

    def _devtools_port(self, profile: Path, timeout: float) -> int:
        marker = profile / "DevToolsActivePort"
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if marker.is_file() and marker.read_text().strip():
                return int(marker.read_text().split()[0])
            if self.process.poll() is not None:
                raise AssertionError(f"chromium exited: {self.process.stderr.read().decode(errors='replace')[-2000:]}")
            time.sleep(0.1)
        raise AssertionError(f"chromium opened no DevTools port within {timeout} s")

    def call(self, method: str, timeout: float = 120.0, **params) -> dict:
        """Send one DevTools command and return its result (events met meanwhile are kept in ``console``)."""
        ident = next(self._ids)
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == ident:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})
            if message.get("method") == "Runtime.consoleAPICalled":
                args = message["params"].get("args", [])
                self.console.append(" ".join(str(a.get("value", a.get("description", ""))) for a in args))
            elif message.get("method") == "Runtime.exceptionThrown":
                self.console.append(str(message["params"]["exceptionDetails"].get("exception", {}).get("description", "exception")))

    def evaluate(self, expression: str, timeout: float = 120.0):
        """The value of a JavaScript expression (a promise is awaited); JavaScript errors raise."""
        result = self.call("Runtime.evaluate", timeout=timeout, expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise AssertionError(f"page error: {details.get('exception', {}).get('description') or details.get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 120.0, poll: float = 0.2):
        """Poll ``expression`` until it is truthy; returns its value."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(poll)
        raise AssertionError(f"{expression!r} stayed false for {timeout} s; console: {self.console[-10:]}")

    def screenshot(self) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB of the page as shown."""
        from PIL import Image

        data = self.call("Page.captureScreenshot", format="png")["data"]
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))

    def close(self) -> None:
        try:
            if getattr(self, "ws", None) is not None:
                self.ws.close()
        finally:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()

    def __enter__(self) -> "Page":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
