"""Proxy-mesh tracking: fit Anny's pose, shape, face and the camera to one photo's detections."""

from uvatar.track.proxyfit import ProxyFit

__all__ = ["ProxyFit", "track_photo"]


def track_photo(image, body=None, config=None):
    """Detect, decide the framing and fit the body: ``(H, W, 3)`` float RGB -> (ProxyFit, Detections).

    Raises :class:`~uvatar.errors.NoPersonError` when nobody is found.
    """
    import time

    from uvatar.body.model import load_body_model
    from uvatar.detect import detect
    from uvatar.detect.regime import classify_regime
    from uvatar.track.fit import FitConfig, fit_proxy

    body = body or load_body_model()
    start = time.perf_counter()
    det = detect(image)
    detect_s = time.perf_counter() - start
    decision = classify_regime(det)
    fit = fit_proxy(body, det, decision.regime, decision.lower_extent, config or FitConfig())
    fit.timings["detect_s"] = round(detect_s, 4)
    fit.timings["total_s"] = round(time.perf_counter() - start, 4)
    fit.residuals["regime_reason"] = decision.reason
    return fit, det
