import functools
import json
import subprocess
import sys

import numpy as np
from PIL import Image

from uvatar.assets.demo import write_dressed
from uvatar.body.demo import write_body_demo


def test_body_demo_wears_assets(tmp_path, body):
    out = tmp_path / "demo"
    report = write_body_demo(out, body, extra=functools.partial(write_dressed, body=body, names=["bob02", "male_casualsuit03", "shoes01"]))
    assert {"dressed.ply", "dressed_walk.ply", "dressed.png"} <= {p.name for p in out.iterdir()}
    assert set(json.loads((out / "report.json").read_text())["assets"]) == {"bob02", "male_casualsuit03", "shoes01"}
    assert report["assets"]["male_casualsuit03"]["hidden_body_vertices"] > 1000
    image = np.asarray(Image.open(out / "dressed.png"))
    assert image.shape == (1024, 1536, 3)
    # each of the six views shows the hair's brown and the outfit's blue (KIND_COLORS, lit)
    for row in range(2):
        for col in range(3):
            tile = image[row * 512 : (row + 1) * 512, col * 512 : (col + 1) * 512].astype(int)
            blue = (tile[..., 2] > tile[..., 0] + 40).mean()
            brown = ((tile[..., 0] > tile[..., 2] + 25) & (tile[..., 0] < 140)).mean()
            assert blue > 0.02 and brown > 0.002, (row, col, blue, brown)


def test_body_demo_refuses_unknown_assets_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "uvatar.cli", "body-demo", "-o", str(tmp_path / "x"), "--outfit", "bob02"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown outfit asset 'bob02'" in lines[0] and "male_casualsuit03" in lines[0]
    assert not (tmp_path / "x").exists()
