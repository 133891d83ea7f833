"""How far synthetic people are from real ones: KID between person crops, on the shipped VGG's features.

The number the synthetic-data issue asks for, before and after a change of the data manifold:

    python -m uvatar.eval.domain_gap --synth DIR [--synth DIR2 ...] --out gap.json

Crops: a square around the person (synthetic: the bounding box of its ``mask.png``; real: the
detector's person box), 10% margin, mid-grey outside the image, resized to 224x224. Real people: the 14
photos of ``../shared/realdata/{head,half,full}`` and every ``--clip-every``-th frame of its three clips
(the head clip counts as head, the dance and turnaround clips as full; evaluation only, never training
data). Synthetic people: the views of ``uvatar synth`` shards, by the framing in their ``camera.json``.

Features: the shipped ST-LPIPS VGG16 trunk (``uvatar.encode.vgg.load_vgg_trunk``), its relu4_3 and
relu5_3 taps averaged over space, each scaled to length sqrt(channels), concatenated (d = 1024 numbers
per crop; ``xᵀy / d`` is the mean cosine similarity of the two taps, so the kernel lives on [1, 8]
whatever the activations' magnitudes). KID (Binkowski et al. 2018): the unbiased squared MMD with the
kernel ``k(x, y) = (xᵀy / d + 1)³``, averaged over ``subsets`` random subsets of ``subset_size`` crops
from each side; its spread over the subsets is reported as the noise.
The noise of the comparison between two manifolds is that spread, not a property of the metric: with
14-40 real crops per framing the subsets overlap heavily, so differences below ~2 spreads say nothing.

``--view front`` (repeatable): only synthetic views of these labels. The real crops are nearly all
seen from the front (photos, the head and dance clips; 3 turnaround frames), while a data set's views
go all around the person: without it the distance mostly measures that difference of viewpoints.

``--person-only``: the crops keep only the person (mid-grey where the person mask is 0, blended by it;
synthetic: ``mask.png``, real: the detector's person mask), so the backdrop, which fills much of every
crop, does not count; the distance is then between the people alone.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

__all__ = ["CROP", "person_crop", "crop_features", "kid", "synthetic_crops", "real_crops", "domain_gap"]

log = logging.getLogger(__name__)

CROP = 224  # crop side, pixels
MARGIN = 0.1  # extra side around the person box, per side, as a fraction of the box's longer side
FRAMINGS = ("head", "half", "full")
CLIP_FRAMING = {"obama_address_head": "head", "unianimate_dance_full": "full", "idol_turnaround_sample": "full"}


def person_crop(image: np.ndarray, box, mask: np.ndarray | None = None) -> np.ndarray:
    """``(CROP, CROP, 3)`` float32 RGB in [0, 1]: the square around ``box`` (x0, y0, x1, y1 pixels) with a
    ``MARGIN`` on each side, mid-grey where it leaves ``image (H, W, 3)`` (uint8 or float in [0, 1]) and,
    given a person ``mask (H, W)`` in [0, 1], blended to mid-grey where the mask is below 1."""
    img = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)
    if mask is not None:
        m = np.clip(np.asarray(mask, np.float32), 0.0, 1.0)[..., None]
        img = img * m + 0.5 * (1.0 - m)
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0) * (1.0 + 2.0 * MARGIN)
    if not side > 0:
        raise ValueError(f"person_crop: empty box {box}")
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    scale = CROP / side
    # OpenCV indexes pixel centres at integers: crop pixel u + 0.5 = scale (image x + 0.5 - left edge)
    affine = np.array([
        [scale, 0.0, scale * (0.5 - (cx - side / 2)) - 0.5],
        [0.0, scale, scale * (0.5 - (cy - side / 2)) - 0.5],
    ])  # fmt: skip
    return cv2.warpAffine(img, affine, (CROP, CROP), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0.5, 0.5, 0.5))  # fmt: skip


@torch.no_grad()
def crop_features(crops: list[np.ndarray], batch: int = 16) -> np.ndarray:
    """``(N, 1024)`` float64 features of ``(CROP, CROP, 3)`` crops: relu4_3 and relu5_3 of the shipped VGG
    trunk, each averaged over space and scaled to length sqrt(channels) (module doc)."""
    from uvatar.encode.vgg import load_vgg_trunk, lpips_input

    trunk = load_vgg_trunk()
    out = []
    for start in range(0, len(crops), batch):
        x = torch.from_numpy(np.stack(crops[start : start + batch])).permute(0, 3, 1, 2).float()
        taps = trunk(lpips_input(x))
        pooled = [taps[k].mean((2, 3)) for k in (3, 4)]
        # each tap to length sqrt(channels): xᵀy / d is then the two taps' mean cosine similarity
        pooled = [t / t.norm(dim=1, keepdim=True).clamp_min(1e-12) * t.shape[1] ** 0.5 for t in pooled]
        out.append(torch.cat(pooled, 1).double().numpy())
    return np.concatenate(out) if out else np.zeros((0, 1024))


def kid(
    real: np.ndarray, fake: np.ndarray, subset_size: int = 50, subsets: int = 100, seed: int = 0
) -> tuple[float, float]:
    """KID of two feature sets ``(N, d)``, ``(M, d)``: mean and standard deviation over random subsets.

    Each subset draws ``min(subset_size, N, M)`` rows from each side without replacement and takes the
    unbiased MMD² with the cubic polynomial kernel (module doc). Needs at least 2 rows a side.
    """
    m = min(subset_size, len(real), len(fake))
    if m < 2:
        raise ValueError(f"kid: need at least 2 crops a side; got {len(real)} real and {len(fake)} synthetic")
    d = real.shape[1]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), m, replace=False)]
        y = fake[rng.choice(len(fake), m, replace=False)]
        kxx = (x @ x.T / d + 1.0) ** 3
        kyy = (y @ y.T / d + 1.0) ** 3
        kxy = (x @ y.T / d + 1.0) ** 3
        off = m * (m - 1)
        values.append((kxx.sum() - np.trace(kxx)) / off + (kyy.sum() - np.trace(kyy)) / off - 2.0 * kxy.mean())
    return float(np.mean(values)), float(np.std(values))


def _mask_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    ys, xs = np.nonzero(mask > 0.5)
    if len(xs) == 0:
        return None
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def synthetic_crops(folders: list[Path], limit: int | None = None, person_only: bool = False,
                    views: tuple[str, ...] | None = None) -> dict[str, list[np.ndarray]]:  # fmt: skip
    """Person crops of the views in ``uvatar synth`` folders (their ``*.tar`` shards), by framing
    (``person_only``: the backdrop greyed out, :func:`person_crop`; ``views``: only views with these
    labels of their ``camera.json``, e.g. ``("front",)``)."""
    from uvatar.data.samples import decode_view
    from uvatar.data.shards import read_shard

    crops: dict[str, list[np.ndarray]] = {f: [] for f in FRAMINGS}
    count = 0
    for folder in folders:
        shards = sorted(Path(folder).glob("shards/*.tar")) or sorted(Path(folder).glob("*.tar"))
        if not shards:
            raise FileNotFoundError(f"no .tar shards in {folder}; pass a folder written by 'uvatar synth'")
        for shard in shards:
            for key, files in read_shard(shard):
                if "image.png" not in files:
                    continue  # a subject sample
                view = decode_view(files)
                box = _mask_box(view.mask)
                framing = view.info.get("framing")
                if box is None or framing not in crops or (views is not None and view.info.get("view") not in views):
                    continue
                crops[framing].append(person_crop(view.image, box, view.mask if person_only else None))
                count += 1
                if limit is not None and count >= limit:
                    return crops
    return crops


def real_crops(realdata: Path, clip_every: int = 10, person_only: bool = False) -> dict[str, list[np.ndarray]]:
    """Person crops of the real photos and clip frames (module doc), by framing; frames without a
    detected person are skipped (``person_only``: the backdrop greyed out by the detector's mask; a photo
    without one is skipped too)."""
    import imageio.v3 as iio

    from uvatar.detect import VideoDetector, detect
    from uvatar.io.image import load_image

    crops: dict[str, list[np.ndarray]] = {f: [] for f in FRAMINGS}
    for framing in FRAMINGS:
        for path in sorted((realdata / framing).glob("*")):
            if path.suffix.lower() not in (".jpg", ".jpeg", ".png"):
                continue
            image = load_image(path).rgb
            det = detect(image)
            if person_only and det.mask is None:
                log.warning("%s: the detector gave no person mask; left out of the person-only crops", path.name)
                continue
            crops[framing].append(person_crop(image, det.box, det.mask if person_only else None))
    for name, framing in CLIP_FRAMING.items():
        path = realdata / "video" / f"{name}.mp4"
        unmasked = 0
        with VideoDetector() as detector:
            for index, frame in enumerate(iio.imiter(path)):
                if index % clip_every:
                    continue
                det = detector(frame)
                if det is None or det.box is None:
                    continue
                if person_only and det.mask is None:
                    unmasked += 1
                    continue
                crops[framing].append(person_crop(frame, det.box, det.mask if person_only else None))
        if unmasked:
            log.warning("%s: %d frames without a person mask left out of the person-only crops", path.name, unmasked)
    return crops


def domain_gap(real: dict[str, np.ndarray], synthetic: dict[str, np.ndarray], subset_size: int = 50,
               subsets: int = 100) -> dict:  # fmt: skip
    """KID (mean, spread) per framing and over all framings pooled, with the crop counts, and the same
    between two random halves of the real crops (``real_halves``: what KID says of no gap at all here)."""
    rows = {}
    for framing in (*FRAMINGS, "all"):
        if framing == "all":
            r = np.concatenate([real[f] for f in FRAMINGS if len(real[f])])
            s = np.concatenate([synthetic[f] for f in FRAMINGS if len(synthetic[f])])
        else:
            r, s = real[framing], synthetic[framing]
        if len(r) < 2 or len(s) < 2:
            rows[framing] = {"real": len(r), "synthetic": len(s), "kid": None}
            continue
        mean, spread = kid(r, s, subset_size, subsets)
        rows[framing] = {"real": len(r), "synthetic": len(s), "kid": round(mean, 5), "kid_spread": round(spread, 5)}
    # the floor: two random halves of the real crops against each other
    r = np.concatenate([real[f] for f in FRAMINGS if len(real[f])])
    half = np.random.default_rng(1).permutation(len(r))
    if len(r) >= 4:
        mean, spread = kid(r[half[: len(r) // 2]], r[half[len(r) // 2 :]], subset_size, subsets)
        rows["real_halves"] = {"real": len(r), "kid": round(mean, 5), "kid_spread": round(spread, 5)}
    return rows


def _is_gap_report(path: Path) -> bool:
    """True if ``path`` holds a report this module wrote (it may then be replaced)."""
    try:
        return "by_framing" in json.loads(path.read_text())
    except (OSError, ValueError, TypeError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--synth", type=Path, action="append", required=True, help="a folder written by 'uvatar synth' (repeatable)"
    )
    parser.add_argument("--realdata", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "realdata")
    parser.add_argument("--clip-every", type=int, default=10, help="every N-th frame of the real clips")
    parser.add_argument("--limit", type=int, default=None, help="at most this many synthetic views")
    parser.add_argument("--subset-size", type=int, default=50)
    parser.add_argument("--subsets", type=int, default=100)
    parser.add_argument("--person-only", action="store_true", help="grey out everything but the person (module doc)")
    parser.add_argument("--view", action="append", default=None,
                        help="only synthetic views with this label (front, three_quarter, side, back; repeatable)")
    parser.add_argument("--out", type=Path, required=True, help="JSON report to write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if not args.realdata.is_dir():
        print(f"error: no real data at {args.realdata}; pass --realdata DIR (../shared/realdata)", file=sys.stderr)
        return 2
    if args.out.exists() and not _is_gap_report(args.out):
        print(f"error: {args.out} exists and is not a domain-gap report; pass another --out", file=sys.stderr)
        return 2
    real = {f: crop_features(c) for f, c in real_crops(args.realdata, args.clip_every, args.person_only).items()}
    views = tuple(args.view) if args.view else None
    synthetic = {f: crop_features(c) for f, c in synthetic_crops(args.synth, args.limit, args.person_only, views).items()}
    report = {
        "synth": [str(p) for p in args.synth],
        "features": "ST-LPIPS VGG16 relu4_3 + relu5_3, spatial means, each scaled to length sqrt(channels) (1024)",
        "kernel": "(x.y / d + 1)^3, unbiased MMD^2",
        "person_only": bool(args.person_only),
        "views": list(views) if views else "all",
        "subset_size": args.subset_size,
        "subsets": args.subsets,
        "by_framing": domain_gap(real, synthetic, args.subset_size, args.subsets),
    }
    from uvatar.io.atomic import atomic_write_text

    atomic_write_text(args.out, json.dumps(report, indent=1))
    print(json.dumps(report["by_framing"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
