"""ProxyFit: the tracked body of one photo (parameters, camera, regime, residuals), saved as JSON + safetensors."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from uvatar.body.model import BodyParams
from uvatar.camera import Camera
from uvatar.errors import InputError
from uvatar.io.atomic import atomic_path, atomic_write_text

__all__ = ["ProxyFit"]

FORMAT = "uvatar.proxyfit/1"


@dataclass
class ProxyFit:
    """The proxy body fitted to one photo.

    Attributes:
        regime: "head", "half" or "full"; ``lower_extent`` says where a half-body frame cuts the body.
        params: batch-1 :class:`~uvatar.body.model.BodyParams` in body space.
        camera: the photo's :class:`~uvatar.camera.Camera` (world = body space).
        residuals: per-term numbers, e.g. ``landmark_px`` (mean re-projection error of visible body
            landmarks, pixels), ``landmark_rel_box`` (the same over the person box height),
            ``face_px``, ``mask_iou`` (fitted silhouette vs detector mask), ``loss_*`` (final loss terms).
        confidence: in [0, 1]; ``low_confidence`` is True when the fit should not be trusted.
        warnings: one sentence each.
        timings: seconds per stage.
    """

    regime: str
    params: BodyParams
    camera: Camera
    lower_extent: str | None = None
    residuals: dict = field(default_factory=dict)
    confidence: float = 1.0
    low_confidence: bool = False
    warnings: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    image_size: tuple[int, int] = (0, 0)

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "regime": self.regime,
            "lower_extent": self.lower_extent,
            "camera": self.camera.to_dict(),
            "residuals": self.residuals,
            "confidence": self.confidence,
            "low_confidence": self.low_confidence,
            "warnings": self.warnings,
            "timings": self.timings,
            "image_size": list(self.image_size),
            "params": {k: v.detach().cpu().tolist() for k, v in self.params.tensors().items()},
            "params_doc": "rotvecs (1,J,3) local-ref radians in bone_labels order; translation (1,3) m; "
            "phenotypes (1,6) in [0,1]; facial (1,52) in [0,1]",
        }

    def save(self, path: str | Path) -> None:
        """Write ``path`` (JSON, readable on its own) and ``path.with_suffix('.safetensors')`` (exact tensors)."""
        from safetensors.torch import save_file

        path = Path(path)
        with atomic_path(path.with_suffix(".safetensors")) as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in self.params.tensors().items()}, str(tmp))
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> "ProxyFit":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read fit {path}: {exc}; pass the fit.json written by 'uvatar track'") from None
        if data.get("format") != FORMAT:
            raise InputError(f"{path} is not a UVatar fit (format {data.get('format')!r}, expected {FORMAT!r})")
        tensors_path = path.with_suffix(".safetensors")
        if tensors_path.exists():
            from safetensors.torch import load_file

            params = BodyParams.from_tensors(load_file(str(tensors_path)))
        else:
            params = BodyParams.from_tensors({k: torch.tensor(v) for k, v in data["params"].items()})
        return cls(
            regime=data["regime"],
            params=params,
            camera=Camera.from_dict(data["camera"]),
            lower_extent=data.get("lower_extent"),
            residuals=data.get("residuals", {}),
            confidence=float(data.get("confidence", 1.0)),
            low_confidence=bool(data.get("low_confidence", False)),
            warnings=list(data.get("warnings", [])),
            timings=data.get("timings", {}),
            image_size=tuple(data.get("image_size", (0, 0))),
        )
