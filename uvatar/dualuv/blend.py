"""Several photos of one person: their UV features blend linearly, weighted by visibility and view angle."""

from __future__ import annotations


from uvatar.dualuv.project import UVFeatures
from uvatar.dualuv.offbody import OffBodySamples

__all__ = ["blend_uv_features"]


def blend_uv_features(views: list[UVFeatures], power: float = 2.0) -> UVFeatures:
    """Per texel, ``sum_k w_k f_k / sum_k w_k`` with ``w_k = weight_k * max(cos_k, 0) ** power``.

    A texel seen head-on in one photo and at a grazing angle in another takes mostly the head-on view.
    Off-body samples of all views are kept side by side; the shell surface and templates are the first view's.
    All views must share the encoder and the grid sizes.
    """
    if not views:
        raise ValueError("blend_uv_features needs at least one view")
    first = views[0]
    for view in views[1:]:
        if view.core.shape != first.core.shape or view.shell.shape != first.shell.shape:
            raise ValueError("all views must have the same Core-UV and Shell-UV shapes")

    def blend(features, weights, cosines):
        w = [wk * ck.clamp(min=0) ** power for wk, ck in zip(weights, cosines)]
        total = sum(w)
        mixed = sum(f * wk[None] for f, wk in zip(features, w)) / total.clamp(min=1e-8)[None]
        cos = sum(ck * wk for ck, wk in zip(cosines, w)) / total.clamp(min=1e-8)
        return mixed, sum(weights), cos

    core, core_weight, core_cos = blend([v.core for v in views], [v.core_weight for v in views], [v.core_cos for v in views])
    shell, shell_weight, shell_cos = blend([v.shell for v in views], [v.shell_weight for v in views], [v.shell_cos for v in views])
    stats = {"views": len(views)}
    sample_sets = [v.off_body for v in views if v.off_body is not None]
    off_body = OffBodySamples.concatenate(sample_sets) if sample_sets else None
    return UVFeatures(core, core_weight, core_cos, shell, shell_weight, shell_cos, first.encoder, stats, off_body, first.shell_offsets,
                      first.templates)  # fmt: skip
