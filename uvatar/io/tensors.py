"""Reading safetensors files a user may hand in: one open-and-check, one-line errors.

safetensors raises its own error types (and sometimes panics surface as other exceptions) for truncated,
foreign or damaged files; :func:`read_safetensors` turns every one of them into an
:class:`~uvatar.errors.InputError` that names the file and says what to do. Nothing is ever unpickled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from uvatar.errors import InputError

__all__ = ["read_safetensors"]


def read_safetensors(path: str | Path, what: str, fix: str, names: Iterable[str] | None = None,
                     framework: str = "pt") -> tuple[dict[str, str], dict]:  # fmt: skip
    """Header metadata and tensors of a safetensors file.

    Args:
        path: the file.
        what: what the file should be, for the error ("a UVatar avatar bundle").
        fix: what the user should do instead ("pass the avatar.uvatar written by 'uvatar reconstruct'").
        names: read only these tensors (those present); None: all.
        framework: ``"pt"`` (torch tensors) or ``"numpy"``.
    Returns:
        ``(metadata, tensors)``.
    Raises:
        InputError: ``{path} is not {what} ({reason}); {fix}``.
    """
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework=framework) as handle:
            metadata = handle.metadata() or {}
            present = set(handle.keys())
            wanted = present if names is None else [n for n in names if n in present]
            tensors = {name: handle.get_tensor(name) for name in wanted}
    except Exception as exc:  # noqa: BLE001 - safetensors' own error types for truncated and foreign files
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        raise InputError(f"{path} is not {what} ({reason}); {fix}") from None
    return metadata, tensors
