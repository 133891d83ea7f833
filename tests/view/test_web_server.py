"""``uvatar view AVATAR.uvatar``: the web player served on 127.0.0.1 (the page itself: tests/export/test_web_browser.py)."""

import urllib.error
import urllib.request

import pytest
from avatar_helpers import small_avatar

from uvatar.view.web_server import start_web_server


def test_serves_the_player_on_localhost_and_cleans_up(tmp_path, body):
    path = tmp_path / "avatar.uvatar"
    small_avatar(body, n=3000, shell=0).save(path)
    server = start_web_server(path, port=0, max_gaussians=2000, body=body)
    try:
        assert server.httpd.server_address[0] == "127.0.0.1"
        base = f"http://127.0.0.1:{server.port}/"
        page = urllib.request.urlopen(base, timeout=10).read().decode()
        assert '<script src="avatar.js">' in page and '<script src="player.js">' in page
        data = urllib.request.urlopen(base + "avatar.js", timeout=10).read()
        assert data.startswith(b"window.UVATAR_WEB = ") and server.summary["gaussians"] == 2000
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(base + "nothing.js", timeout=10)
    finally:
        server.stop()
    assert not server.site.exists()
