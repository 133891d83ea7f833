"""The training curve picture (uvatar.train.curve): reading log.jsonl, the running mean, the PNG."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from uvatar.errors import InputError
from uvatar.train.curve import main, plot_curve, read_log, running_mean


def _write_log(path, steps=30, validate_every=10, resumed_from=None):
    lines = [json.dumps({"step": s, "loss": 1.0 / s, "lr": 1e-3}) for s in range(1, steps + 1)]
    lines += [json.dumps({"validation": {"step": s, "loss": 0.5, "psnr_input": 20.0 + s / 10, "psnr_side": 14.0, "psnr_back": 13.0, "subjects": 4}})
              for s in range(validate_every, steps + 1, validate_every)]  # fmt: skip
    if resumed_from is not None:  # a resumed run logs its steps again: the later line wins
        lines += [json.dumps({"step": s, "loss": 2.0, "lr": 1e-3}) for s in range(resumed_from, steps + 1)]
    path.write_text("\n".join(lines) + "\n")


def test_read_log_keeps_the_last_line_of_each_step(tmp_path):
    _write_log(tmp_path / "log.jsonl", resumed_from=25)
    train, validation = read_log(tmp_path / "log.jsonl")
    assert list(train) == list(range(1, 31)) and list(validation) == [10, 20, 30]
    assert train[24]["loss"] == 1.0 / 24 and train[25]["loss"] == 2.0
    assert validation[20]["psnr_input"] == 22.0


def test_running_mean_against_a_plain_loop():
    values = np.random.default_rng(0).random(37)
    for window in (1, 5, 50):
        expected = [values[max(0, i - window + 1) : i + 1].mean() for i in range(len(values))]
        assert np.allclose(running_mean(values, window), expected, rtol=1e-12, atol=1e-12)
    with pytest.raises(InputError, match="at least 1"):
        running_mean(values, 0)


def test_plot_curve_writes_a_png(tmp_path):
    _write_log(tmp_path / "log.jsonl")
    out = plot_curve(tmp_path, smooth=5)
    assert out == tmp_path / "curve.png"
    with Image.open(out) as image:
        assert image.size == (1100, 400)
        pixels = np.asarray(image.convert("RGB"))
    assert (pixels.std(axis=(0, 1)) > 10).all()  # drawn, not blank
    assert not list(tmp_path.glob(".*tmp*"))


@pytest.mark.parametrize("content, message", [(None, "no training log"), ("not json\n", "is not JSON"), ("[1, 2]\n", "not a JSON object"),
                                              ('{"validation": {"step": 1}}\n', "no training step")])  # fmt: skip
def test_bad_logs_are_clear_errors(tmp_path, capsys, content, message):
    if content is not None:
        (tmp_path / "log.jsonl").write_text(content)
    with pytest.raises(InputError, match=message):
        read_log(tmp_path / "log.jsonl")
    assert main([str(tmp_path)]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "curve.png").exists()
