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


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while the block runs (start a subprocess in it); deliver one that came after.

    A signal that arrives while Python forks is handled inside the fork's hooks (``logging``'s lock
    release runs there), where an exception is printed as "Exception ignored" and dropped: the CLI then
    never sees the Ctrl-C (measured: the turntable's ffmpeg started as the interrupt came, and the whole
    turntable was written, exit 0). Inside the block the handlers only note the signal; after it, the
    handler that was in place runs (raising KeyboardInterrupt or :class:`Terminated`), or, for a default
    action, the signal is sent again. Outside the main thread (no signal handlers there) it does nothing,
    and a signal whose handler was not set from Python (``getsignal`` None: it could not be put back) is
    left as it is.
    """
    import os
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    previous = {signum: handler for signum, handler in previous.items() if handler is not None}
    for signum in previous:
        signal.signal(signum, lambda number, frame: caught.append(number))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if caught:
            handler = previous[caught[0]]
            if callable(handler):
                handler(caught[0], None)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), caught[0])
