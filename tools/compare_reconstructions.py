"""Compare two folders of reconstructions (one sub-folder per photo, as `uvatar reconstruct` writes them):
bit-identical files, the largest tensor difference of each avatar.uvatar, and report.json fields that
differ (timings and paths left out). Used to show that a restructuring left the avatars unchanged.

    python tools/compare_reconstructions.py BEFORE AFTER
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from safetensors.torch import load_file

FILES = ("avatar.ply", "posed.ply", "preview.png", "overlay.png")
SKIP = {"timings", "photos"}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.is_file() else "missing"


def compare(before: Path, after: Path) -> list[dict]:
    rows = []
    for folder in sorted(p for p in before.iterdir() if (p / "report.json").is_file()):
        other = after / folder.name
        row = {"photo": folder.name}
        row["identical_files"] = [f for f in FILES if _digest(folder / f) == _digest(other / f) != "missing"]
        a, b = load_file(folder / "avatar.uvatar"), load_file(other / "avatar.uvatar")
        row["tensor_max_abs_diff"] = max(
            (float((a[k].double() - b[k].double()).abs().max()) if a[k].shape == b[k].shape and a[k].numel() else (0.0 if a[k].shape == b[k].shape else float("inf")))
            for k in a
        )  # fmt: skip
        ra, rb = json.loads((folder / "report.json").read_text()), json.loads((other / "report.json").read_text())
        row["report_differs"] = sorted(k for k in set(ra) | set(rb) if k not in SKIP and ra.get(k) != rb.get(k))
        rows.append(row)
    return rows


def main() -> None:
    before, after = Path(sys.argv[1]), Path(sys.argv[2])
    rows = compare(before, after)
    for row in rows:
        print(json.dumps(row))
    same = sum(len(r["identical_files"]) == len(FILES) and r["tensor_max_abs_diff"] == 0 and not r["report_differs"] for r in rows)
    print(f"{same} of {len(rows)} reconstructions identical (files, tensors and report)")


if __name__ == "__main__":
    main()
