"""``uvatar view AVATAR.uvatar``: the web player (:mod:`uvatar.export.web`) served on 127.0.0.1.

The page is the one ``uvatar export -f web`` writes, generated into a temporary folder (removed on exit)
and served by Python's static HTTP server; the browser skins the Gaussians on its GPU, so playback runs
at the browser's frame rate and Python only serves files. A 3DGS ``.ply`` (a still cloud, no skeleton)
still goes to the viser viewer (:mod:`uvatar.view.viewer`).
"""

from __future__ import annotations

import functools
import logging
import shutil
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from uvatar.errors import InputError

__all__ = ["WebServer", "start_web_server", "serve_web"]

log = logging.getLogger(__name__)

#: Ports tried after a busy ``--port`` (as viser did).
_PORT_TRIES = 20


class _QuietHandler(SimpleHTTPRequestHandler):
    """Static files, no directory listings, requests logged at debug level only."""

    def list_directory(self, path):
        self.send_error(404, "no listing")
        return None

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class WebServer:
    """A running player server: ``url``, ``port``, ``summary`` (what was exported); :meth:`stop` ends it
    and removes the temporary folder."""

    def __init__(self, site: Path, tmp: Path, host: str, port: int, summary: dict) -> None:
        self.site, self._tmp, self.host, self.summary = site, tmp, host, summary
        handler = functools.partial(_QuietHandler, directory=str(site))
        last_error = None
        for candidate in range(port, port + _PORT_TRIES) if port else [0]:
            try:
                self.httpd = ThreadingHTTPServer((host, candidate), handler)
                break
            except OSError as exc:
                last_error = exc
        else:
            self._cleanup()
            raise InputError(f"cannot serve on {host}:{port}..{port + _PORT_TRIES - 1} ({last_error.strerror or last_error}); choose another --port")
        self.port = int(self.httpd.server_address[1])
        shown = "localhost" if host in ("127.0.0.1", "localhost") else host
        self.url = f"http://{shown}:{self.port}/"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="uvatar-web", daemon=True)
        self._thread.start()

    def _cleanup(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._cleanup()


def start_web_server(path: str | Path, host: str = "127.0.0.1", port: int = 8080, max_gaussians: int = 0, motion: str | None = None, body=None) -> WebServer:
    """Export the avatar ``path`` into a temporary folder and serve it (returns at once; :meth:`WebServer.stop`)."""
    from uvatar.export.web import write_web_player
    from uvatar.view.scene import load_avatar

    avatar, body = load_avatar(path, max_gaussians, body)
    tmp = Path(tempfile.mkdtemp(prefix="uvatar-view-"))
    try:
        summary = write_web_player(path, tmp / "site", avatar, body, motion=motion)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return WebServer(tmp / "site", tmp, host, port, summary)


def serve_web(path: str | Path, host: str = "127.0.0.1", port: int = 8080, max_gaussians: int = 0, motion: str | None = None, announce=None) -> None:
    """Serve the avatar's web player until interrupted (Ctrl+C)."""
    import time

    say = announce or log.info
    server = start_web_server(path, host=host, port=port, max_gaussians=max_gaussians, motion=motion)
    try:
        if server.port != port:
            say(f"port {port} is busy; using {server.port}")
        size = server.summary["bytes"]["total"] / 1e6
        say(f"web player of {path} ({server.summary['gaussians']:,} Gaussians, {size:.1f} MB page) at {server.url} (Ctrl+C to stop)")
        if host not in ("127.0.0.1", "localhost", "::1"):
            say(f"warning: bound to {host}: anyone who can reach this machine can open the player")
        while True:
            time.sleep(1.0)
    finally:
        server.stop()
