"""Proxy-mesh tracking: fit Anny's pose, shape, face and the camera to one photo's detections."""

from uvatar.track.proxyfit import ProxyFit

__all__ = ["ProxyFit", "track_photo", "track_upright_photo"]


def track_photo(image, body=None, config=None, det=None):
    """Detect, decide the framing and fit the body: ``(H, W, 3)`` float RGB -> (ProxyFit, Detections).

    ``det``: the photo's detections when they are already known (skips the detector).
    Raises :class:`~uvatar.errors.NoPersonError` when nobody is found.
    """
    import time

    from uvatar.body.model import load_body_model
    from uvatar.detect import detect
    from uvatar.detect.regime import classify_regime
    from uvatar.track.fit import FitConfig, fit_proxy

    body = body or load_body_model()
    start = time.perf_counter()
    det = det if det is not None else detect(image)
    detect_s = time.perf_counter() - start
    decision = classify_regime(det)
    fit = fit_proxy(body, det, decision.regime, decision.lower_extent, config or FitConfig())
    fit.timings["detect_s"] = round(detect_s, 4)
    fit.timings["total_s"] = round(time.perf_counter() - start, 4)
    fit.residuals["regime_reason"] = decision.reason
    return fit, det


def track_upright_photo(image, body=None, config=None):
    """:func:`track_photo` on a photo that may be turned (upside down or on its side, no EXIF tag):
    detect once; if the person's head points down or sideways (:func:`~uvatar.detect.orientation.upright_turns`),
    turn the photo upright, detect again and fit that.

    Returns:
        ``(image, fit, det, turns)``: the photo as fitted (turned when ``turns`` > 0, counter-clockwise
        quarter turns), its fit and detections. A turn is logged and noted in ``fit.warnings``.
    """
    import logging
    import time

    from uvatar.detect import detect
    from uvatar.detect.orientation import turn_image, upright_turns

    start = time.perf_counter()
    det = detect(image)
    turns = upright_turns(det)
    if turns:
        image = turn_image(image, turns)
        det = detect(image)
    detect_s = time.perf_counter() - start
    fit, det = track_photo(image, body, config, det=det)
    fit.timings["detect_s"] = round(detect_s, 4)
    fit.timings["total_s"] = round(fit.timings["total_s"] + detect_s, 4)
    if turns:
        note = f"the photo was turned {90 * turns} degrees counter-clockwise to stand the person upright (its pixels had the head {('', 'to the right', 'below the shoulders', 'to the left')[turns]})"
        logging.getLogger(__name__).warning(note)
        fit.warnings.append(note)
    return image, fit, det, turns
