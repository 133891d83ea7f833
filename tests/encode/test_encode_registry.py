"""Encoder registry: names, errors, lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from uvatar.encode import available_encoders, get_encoder
from uvatar.errors import InputError


def test_available_names():
    names = available_encoders()
    assert "rgb" in names and "stlpips-vgg" in names and "timm:<model>" in names


def test_unknown_name_lists_known():
    with pytest.raises(InputError, match="unknown encoder 'nope'.*rgb.*stlpips-vgg"):
        get_encoder("nope")
    with pytest.raises(InputError, match="unknown encoder"):
        get_encoder("timm:")


def test_unknown_option_is_refused():
    with pytest.raises(InputError, match="bad options for encoder 'rgb'"):
        get_encoder("rgb", colour=True)


def test_rgb_encoder_by_name():
    enc = get_encoder("rgb")
    assert (enc.name, enc.channels, enc.stride) == ("rgb", 3, 1.0)


def test_import_loads_no_optional_backend():
    code = ("import sys, uvatar, uvatar.encode; "
            "bad = [m for m in ('timm', 'torchvision', 'stlpips_pytorch', 'IPython') if m in sys.modules]; "
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
