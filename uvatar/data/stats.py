"""``uvatar data stats DIR``: what a synthetic data set holds, and a contact sheet to look at.

Counts come from the shards' index files (no image is decoded): subjects and views, views by framing
and by view label, subjects by age group and by skin tone bucket (1 light .. 6 dark). The contact
sheet shows the first subjects one per row, their views sorted by azimuth, each labelled with its
framing and view.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from uvatar.errors import InputError

__all__ = ["collect_stats", "format_stats", "contact_sheet", "detection_rate"]

_ORDER = {
    "framing": ("head", "half", "full"),
    "view": ("front", "three_quarter", "side", "back"),
    "age_group": ("child", "teen", "adult", "senior"),
    "skin_tone": ("1", "2", "3", "4", "5", "6"),
}


def _shard_indexes(out: Path) -> list[dict]:
    from uvatar.data.shards import shard_done, shard_paths

    out = Path(out)
    manifest = out / "manifest.json"
    if not manifest.exists():
        raise InputError(f"{out} holds no manifest.json; pass the folder written by 'uvatar synth'")
    n_shards = json.loads(manifest.read_text())["counts"]["shards"]
    return [json.loads(shard_paths(out, k)[1].read_text()) for k in range(n_shards) if shard_done(out, k)]


def collect_stats(out: str | Path) -> dict:
    """Counts over the complete shards of ``out`` (see the module docstring)."""
    out = Path(out)
    manifest = json.loads((out / "manifest.json").read_text()) if (out / "manifest.json").exists() else None
    indexes = _shard_indexes(out)
    stats = {"shards": len(indexes), "planned_shards": manifest["counts"]["shards"], "subjects": 0, "views": 0,
             "bytes": sum(ix["bytes"] for ix in indexes)}
    for key in _ORDER:
        stats[key] = {name: 0 for name in _ORDER[key]}
    for ix in indexes:
        for rec in ix["samples"]:
            if rec["kind"] == "subject":
                stats["subjects"] += 1
                stats["age_group"][rec["age_group"]] = stats["age_group"].get(rec["age_group"], 0) + 1
                tone = str(rec["skin_tone"])
                stats["skin_tone"][tone] = stats["skin_tone"].get(tone, 0) + 1
            else:
                stats["views"] += 1
                for key in ("framing", "view"):
                    stats[key][rec[key]] = stats[key].get(rec[key], 0) + 1
    return stats


def format_stats(stats: dict) -> str:
    """A plain-text table of :func:`collect_stats`."""
    lines = [
        f"shards {stats['shards']}/{stats['planned_shards']}  subjects {stats['subjects']}  views {stats['views']}"
        f"  size {stats['bytes'] / 2**20:.1f} MiB",
    ]
    for key, total_key in (("framing", "views"), ("view", "views"), ("age_group", "subjects"), ("skin_tone", "subjects")):
        total = max(1, stats[total_key])
        cells = "  ".join(f"{name} {n} ({100 * n / total:.0f}%)" for name, n in stats[key].items())
        lines.append(f"{key:<10} {cells}")
    return "\n".join(lines)


def detection_rate(out: str | Path, n: int = 100, framings: tuple[str, ...] = ("half", "full"), seed: int = 0) -> dict:
    """Share of ``n`` random views (of ``framings``) in which MediaPipe (:func:`uvatar.detect.detect`)
    finds a person, overall and per framing and view label; also the share whose decided regime
    (:func:`uvatar.detect.classify_regime`) equals the rendered framing."""
    from uvatar.data.samples import decode_png
    from uvatar.data.shards import read_member, shard_paths
    from uvatar.detect import classify_regime, detect
    from uvatar.errors import NoPersonError

    out = Path(out)
    pool = [(ix["shard"], rec) for ix in _shard_indexes(out) for rec in ix["samples"]
            if rec["kind"] == "view" and rec["framing"] in framings]
    if not pool:
        raise InputError(f"{out} holds no {'/'.join(framings)} views")
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(pool), size=min(n, len(pool)), replace=False)
    rows = []
    for i in sorted(picks):
        shard, rec = pool[int(i)]
        image = decode_png(read_member(shard_paths(out, shard)[0], *rec["members"]["image.png"])).astype(np.float32) / 255
        try:
            det = detect(image, count_people=False)
            found, regime = True, classify_regime(det).regime
        except NoPersonError:
            found, regime = False, None
        rows.append({"key": rec["key"], "framing": rec["framing"], "view": rec["view"], "found": found, "regime": regime})

    def share(sel):
        sel = list(sel)
        return {"n": len(sel), "rate": round(sum(r["found"] for r in sel) / len(sel), 3) if sel else None}

    return {
        "all": share(rows),
        "by_framing": {f: share(r for r in rows if r["framing"] == f) for f in framings},
        "by_view": {v: share(r for r in rows if r["view"] == v) for v in _ORDER["view"]},
        "regime_agrees": round(sum(r["regime"] == r["framing"] for r in rows if r["found"]) / max(1, sum(r["found"] for r in rows)), 3),
        "missed": [r["key"] for r in rows if not r["found"]],
    }


def contact_sheet(out: str | Path, subjects: int = 8, thumb: int = 160) -> np.ndarray:
    """``(rows * thumb, columns * thumb, 3)`` uint8 RGB grid: one subject per row, views by azimuth."""
    import cv2

    from uvatar.data.samples import decode_png
    from uvatar.data.shards import read_member, shard_paths

    out = Path(out)
    rows = []
    for ix in _shard_indexes(out):
        tar = shard_paths(out, ix["shard"])[0]
        views = {}
        for rec in ix["samples"]:
            if rec["kind"] == "view":
                views.setdefault(rec["subject"], []).append(rec)
        for subject in sorted(views):
            row = []
            recs = []
            for rec in views[subject]:
                info = json.loads(read_member(tar, *rec["members"]["camera.json"]))
                recs.append((abs(info["azimuth_deg"]) if info["azimuth_deg"] >= 0 else 360 + info["azimuth_deg"], rec, info))
            for _, rec, info in sorted(recs, key=lambda r: r[0]):
                image = decode_png(read_member(tar, *rec["members"]["image.png"]))
                small = cv2.resize(image, (thumb, thumb), interpolation=cv2.INTER_AREA)
                text = f"{info['framing']} {info['view']} {info['azimuth_deg']:.0f}"
                cv2.putText(small, text, (4, thumb - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 2, cv2.LINE_AA)
                cv2.putText(small, text, (4, thumb - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (255, 255, 255), 1, cv2.LINE_AA)
                row.append(small)
            rows.append(row)
            if len(rows) >= subjects:
                break
        if len(rows) >= subjects:
            break
    if not rows:
        raise InputError(f"{out} holds no complete shard yet; run 'uvatar synth' first")
    columns = max(len(r) for r in rows)
    sheet = np.zeros((len(rows) * thumb, columns * thumb, 3), np.uint8)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            sheet[r * thumb : (r + 1) * thumb, c * thumb : (c + 1) * thumb] = tile
    return sheet
