"""Hair, garment and accessory templates (MakeHuman's CC0 assets) fitted to any shaped and posed Anny
body and skinned with it.

>>> from uvatar.assets import asset_names
>>> "bob01" in asset_names("hair")
True

Typical use (``body = load_body_model()``, ``params`` a batch-1 :class:`~uvatar.body.model.BodyParams`)::

    hair, outfit = fit_assets(["bob01", "male_casualsuit03"], body, params)
    hair.vertices, hair.faces, hair.uv_corners  # (N, 3) metres in the body's world, (F, 3), (F, 3, 2)
    frames = outfit.pose(body.forward(motion_params).bone_transforms)  # (B, N, 3), same shape

The data under ``uvatar/data/assets/`` is built by ``tools/build_assets.py``; see :mod:`uvatar.assets.fit`
for the maths.
"""

from uvatar.assets.catalogue import KINDS, AssetInfo, asset_info, asset_names, catalogue
from uvatar.assets.fit import (
    AssetMesh,
    fit_asset,
    fit_asset_reference,
    fit_assets,
    hidden_body_faces,
)

__all__ = [
    "KINDS",
    "AssetInfo",
    "AssetMesh",
    "asset_info",
    "asset_names",
    "catalogue",
    "fit_asset",
    "fit_asset_reference",
    "fit_assets",
    "hidden_body_faces",
]
