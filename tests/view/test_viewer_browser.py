"""``uvatar view`` of a 3DGS .ply end to end (the viser path; an avatar goes to the web player, tested in
tests/export/test_web_browser.py and tests/view/test_web_server.py): serve a small avatar's .ply, open
it in headless Chromium, look at the pixels.

Needs Debian's chromium (``apt-get install -y --no-install-recommends chromium``; ``make test`` installs
it when run as root); skipped with the reason when no Chromium is found. WebGL runs on SwiftShader.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
from PIL import Image

from avatar_helpers import small_avatar
from chromium_helper import chromium_path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening_addresses(port: int) -> set[str]:
    """Local IPv4 addresses (hex, as in /proc/net/tcp) listening on ``port``."""
    found = set()
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if int(hex_port, 16) == port and state == "0A":
            found.add(address)
    return found


def _wait_for_http(url: str, process, timeout: float = 60.0) -> None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process.poll() is not None:
            raise AssertionError(f"the viewer exited early: {process.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"the viewer did not answer at {url} within {timeout} s")


def test_viewer_shows_the_avatar_in_chromium(tmp_path, body):
    chromium = chromium_path()
    avatar_path = tmp_path / "avatar.ply"
    small_avatar(body, n=4000, shell=0).export_ply(avatar_path, body)
    port = _free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvatar.cli", "view", str(avatar_path), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        _wait_for_http(f"http://127.0.0.1:{port}/", server)
        assert _listening_addresses(port) == {"0100007F"}, "the viewer must bind to 127.0.0.1 only by default"
        # headless Chromium's --screenshot now and then never settles on a page that keeps a websocket
        # open (seen once in a fresh clone under load; the rerun took 11 s), and under load the splats may
        # not have arrived within the virtual-time budget (a CI run painted 0.020 of the centre, quiet runs
        # 0.10-0.17): up to three tries, each with a new profile and a longer budget
        tries, painted = [], np.zeros(1, dtype=bool)
        for attempt, budget_ms in enumerate((2000, 6000, 15000)):
            shot = tmp_path / f"shot{attempt}.png"
            started = time.monotonic()
            try:
                subprocess.run(
                    [
                        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--use-gl=swiftshader", "--enable-unsafe-swiftshader", f"--user-data-dir={tmp_path / f'profile{attempt}'}",
                        f"--screenshot={shot}", "--window-size=800,600", f"--virtual-time-budget={budget_ms}",
                        f"http://127.0.0.1:{port}/",
                    ],
                    capture_output=True, text=True, timeout=75,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                tries.append(f"budget {budget_ms} ms: no screenshot within 75 s")
                continue
            if not shot.is_file():
                tries.append(f"budget {budget_ms} ms: no screenshot")
                continue
            pixels = np.asarray(Image.open(shot).convert("RGB")).astype(np.int32)
            assert pixels.shape == (600, 800, 3)
            # the body stands in the middle; the GUI panel is top right, a notice top left
            centre = pixels[220:560, 300:500]
            background = pixels[590:600, 700:800].reshape(-1, 3).mean(0)
            painted = np.abs(centre - background).sum(-1) > 60
            # the test avatar is coloured by its UV (u, v, 0.5): its painted pixels are not grey (a CI run's
            # first try painted 0.040 of the centre, red - green 8.1 on average: the scene's grey before the
            # splats had all arrived)
            colours = centre[painted]
            red_green = float(np.abs(colours[:, 0] - colours[:, 1]).mean()) if len(colours) else 0.0
            tries.append(f"budget {budget_ms} ms: {time.monotonic() - started:.1f} s, painted {painted.mean():.4f}, red - green {red_green:.1f}")
            if painted.mean() > 0.03 and red_green > 10:
                break
        print("; ".join(tries))
        assert painted.mean() > 0.03, f"too little of the centre differs from the background: {'; '.join(tries)}"
        assert red_green > 10, f"the painted pixels are grey, not the avatar's colours: {'; '.join(tries)}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
