"""`uvatar eval`: novel-view metrics of the projection baseline and of a learned checkpoint, by framing and view group."""

from __future__ import annotations

import json
import pytest
import torch

from decoder_helpers import MICRO

torch.set_num_threads(1)


def test_eval_projection_and_learned(body, tmp_path):
    from uvatar.eval.decoder_eval import GROUPS, evaluate_decoder, format_markdown
    from uvatar.model.checkpoint import save_decoder
    from uvatar.model.mae import UVDecoder

    result = evaluate_decoder("projection", "synthetic:1", size=64, framings=("head",), projection_resolution=128,
                              identity=False, figure=tmp_path / "fig.png")  # fmt: skip
    summary = result["summary"]
    assert set(summary) == {"head", "all"} and summary["head"]["subjects"] == 1
    for group in GROUPS:
        cell = summary["head"][group]
        assert cell["views"] == (2 if group == "side" else 1)
        assert 5 < cell["psnr"] < 60 and 0 < cell["ssim"] <= 1 and 0 <= cell["lpips"] < 1
    # the input view is the best reproduced; the unseen back is worse
    assert summary["head"]["input"]["psnr"] > summary["head"]["back"]["psnr"]
    assert (tmp_path / "fig.png").is_file()
    table = format_markdown(result)
    assert "| head | 1 |" in table and "back (unseen)" in table

    # an untrained checkpoint decodes to (nearly) the projection baseline at the same resolution
    save_decoder(tmp_path / "micro.safetensors", UVDecoder.from_body(MICRO, body))
    learned = evaluate_decoder(str(tmp_path / "micro.safetensors"), "synthetic:1", size=64, framings=("head",), identity=False)
    projection = evaluate_decoder("projection", "synthetic:1", size=64, framings=("head",), projection_resolution=64, identity=False)
    a, b = learned["summary"]["head"]["input"]["psnr"], projection["summary"]["head"]["input"]["psnr"]
    assert abs(a - b) < 1.0, (a, b)  # a model-level closeness check (small random head), not a float bound
    assert learned["config"]["decoder_config"]["name"] == "micro"


def test_eval_cli_writes_json_table_and_figure(tmp_path):
    from typer.testing import CliRunner

    from uvatar.cli import app

    out = tmp_path / "eval"
    args = ["eval", "--decoder", "projection", "--data", "synthetic:1", "--size", "48", "--framings", "full",
            "--projection-resolution", "128", "-o", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output[-2000:]
    assert {p.name for p in out.iterdir()} == {".uvatar-output.json", "eval.json", "eval.md", "eval.png"}
    data = json.loads((out / "eval.json").read_text())
    assert data["summary"]["full"]["subjects"] == 1 and "| full | 1 |" in result.output


def test_eval_refuses_unknown_decoders_and_data(tmp_path):
    from uvatar.errors import InputError
    from uvatar.eval.decoder_eval import evaluate_decoder

    with pytest.raises(InputError, match="decoder"):
        evaluate_decoder(str(tmp_path / "nope.safetensors"), "synthetic:1")
    with pytest.raises(InputError, match="synthetic:N"):
        evaluate_decoder("projection", "synthetic:x")
    with pytest.raises(InputError, match="framings"):
        evaluate_decoder("projection", "synthetic:1", framings=("torso",))


def test_identity_distance_when_dlib_is_installed():
    from uvatar.eval.identity import has_identity

    if not has_identity():
        pytest.skip("dlib-bin / face-recognition-models not installed (optional extra 'identity')")
    import numpy as np
    from PIL import Image

    from tests.conftest import SHARED
    from uvatar.eval.identity import shared_identity

    path = SHARED / "realdata/half/astronaut.png"
    if not path.is_file():
        pytest.skip("shared photo missing")
    image = np.asarray(Image.open(path).convert("RGB"))
    ident = shared_identity()
    assert ident.descriptor(image).shape == (128,)
    assert ident.distance(image, image) == 0.0  # the same descriptor twice (deterministic): |d - d| = 0 exactly
    assert ident.descriptor(np.full((200, 200, 3), 0.5)) is None  # no face
