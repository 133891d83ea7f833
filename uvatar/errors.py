"""One exception hierarchy for UVatar.

Every error a user can cause derives from :class:`UvatarError`; its message says what went wrong and
what to do. The CLI prints ``error: <message>`` on one line and exits with :attr:`UvatarError.exit_code`.
"""

from __future__ import annotations

import contextlib
from typing import Iterator


class UvatarError(Exception):
    """Base class of errors a user can act on."""

    exit_code = 1


class InputError(UvatarError):
    """A file or argument the user passed is unusable (not an image, wrong shape, unknown label)."""

    exit_code = 2


class NoPersonError(UvatarError):
    """No person could be found in a photo."""

    exit_code = 3


class DependencyError(UvatarError):
    """An optional dependency or device that was asked for is not available."""

    exit_code = 4


class OutputError(UvatarError):
    """An output could not be written (disk full, read-only file system, file too large)."""

    exit_code = 5

    def __init__(self, path, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"could not write {path}: {reason}; free some space or pass -o a folder on another disk")


class Terminated(BaseException):
    """The process was asked to stop (SIGTERM). A BaseException, like KeyboardInterrupt, so that no
    ``except Exception`` swallows it and every ``finally`` (temporary outputs) runs."""


@contextlib.contextmanager
def interrupts_unwrapped() -> Iterator[None]:
    """Re-raise a Ctrl-C or SIGTERM that arrived inside compiled code as itself.

    numba's compiled functions call back into Python (to unpickle constants, for instance); a signal
    handler's exception raised there comes out as ``SystemError: ... returned a result with an exception
    set`` whose cause is the :class:`KeyboardInterrupt` or :class:`Terminated`. Wrap calls into numba
    kernels with this so that the CLI's clean-up and exit codes (130, 143) see the interrupt.
    """
    try:
        yield
    except SystemError as exc:
        cause = exc.__cause__ or exc.__context__
        while cause is not None:
            if isinstance(cause, (KeyboardInterrupt, Terminated)):
                raise cause from None
            cause = cause.__cause__ or cause.__context__
        raise
