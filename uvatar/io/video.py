"""Write and read short videos (turntables, animations): .mp4 (H.264) through imageio-ffmpeg's bundled
ffmpeg, .gif through Pillow. Writers are atomic: a crash or an exception leaves no file behind.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from uvatar.errors import InputError, interrupts_held
from uvatar.io.atomic import atomic_path
from uvatar.io.image import to_uint8

__all__ = ["VideoWriter", "write_video", "read_video", "iter_video", "VIDEO_SUFFIXES"]

log = logging.getLogger(__name__)

#: Suffixes :class:`VideoWriter` can write.
VIDEO_SUFFIXES = (".mp4", ".gif")


class VideoWriter:
    """Streaming, atomic video writer; use as a context manager.

    >>> with VideoWriter("turntable.mp4", fps=30) as video:   # doctest: +SKIP
    ...     for frame in frames:
    ...         video.append(frame)

    Frames go to a temporary file beside ``path``, renamed onto ``path`` when the block ends normally;
    if the block raises, the temporary file is deleted and ``path`` is left as it was.

    Args:
        path: destination ending in .mp4 (H.264, yuv420p, plays everywhere) or .gif (loops forever).
        fps: frames per second, > 0. GIF stores delays in 1/100 s, so its rate is approximate.
        quality: mp4 quality 1..10 (10 best; 7 is H.264 CRF 15). Ignored for .gif.
    """

    def __init__(self, path: str | Path, fps: float = 30.0, quality: float = 7.0) -> None:
        self.path = Path(path)
        self.kind = self.path.suffix.lower()
        if self.kind not in VIDEO_SUFFIXES:
            raise InputError(f"cannot write a video as {self.path.name!r}; use a .mp4 or .gif file name")
        if not isinstance(fps, (int, float, Fraction)) or not fps > 0:
            raise InputError(f"fps must be a number > 0, got {fps!r}")
        if not isinstance(quality, (int, float)) or not 1 <= quality <= 10:
            raise InputError(f"quality must be in 1..10, got {quality!r}")
        self.fps = fps
        self.quality = float(quality)
        self.size: tuple[int, int] | None = None  # (width, height) of the frames appended
        self.num_frames = 0
        self._atomic = None
        self._tmp: Path | None = None
        self._ffmpeg = None
        self._gif_frames: list = []

    def __enter__(self) -> "VideoWriter":
        if self._atomic is not None:
            raise InputError("this VideoWriter is already open; make a new one per file")
        self._atomic = atomic_path(self.path)
        self._tmp = self._atomic.__enter__()
        return self

    def append(self, frame: Any) -> None:
        """Add one frame: (H, W, 3) uint8 or float in [0, 1] (numpy or torch); (H, W) gray is accepted.

        Every frame must have the size of the first. For .mp4 an odd width or height is padded by one
        edge pixel to an even size (yuv420p needs even sizes).
        """
        if self._tmp is None:
            raise InputError("VideoWriter.append called outside its `with` block")
        img = to_uint8(frame)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        if img.ndim == 3 and img.shape[2] == 4:
            img = img[..., :3]
        if img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 1:
            raise InputError(f"a video frame must have shape (H, W, 3), got {tuple(np.shape(frame))}")
        size = (int(img.shape[1]), int(img.shape[0]))
        if self.size is None:
            self.size = size
            self._start()
        elif size != self.size:
            raise InputError(
                f"frame {self.num_frames} is {size[0]}x{size[1]} but the video is "
                f"{self.size[0]}x{self.size[1]}; every frame needs the same size"
            )
        if self.kind == ".mp4":
            pad_h, pad_w = img.shape[0] % 2, img.shape[1] % 2
            if pad_h or pad_w:
                img = np.pad(img, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
            self._ffmpeg.send(np.ascontiguousarray(img))
        else:
            from PIL import Image

            self._gif_frames.append(Image.fromarray(np.ascontiguousarray(img), mode="RGB"))
        self.num_frames += 1

    def __exit__(self, exc_type, exc, tb) -> bool:
        atomic, self._atomic = self._atomic, None
        if exc_type is None:
            try:
                self._finish()
            except BaseException as e:
                self._abort()
                self._tmp = None
                atomic.__exit__(type(e), e, e.__traceback__)
                raise
            self._tmp = None
            atomic.__exit__(None, None, None)
            log.debug("wrote %d frames (%s) to %s", self.num_frames, self.size, self.path)
        else:
            self._abort()
            self._tmp = None
            atomic.__exit__(exc_type, exc, tb)
        return False

    # -- backends ------------------------------------------------------------------------------------

    def _start(self) -> None:
        if self.kind != ".mp4":
            return
        import imageio_ffmpeg

        w, h = self.size
        with interrupts_held():  # a Ctrl-C during the fork would be dropped (uvatar.errors.interrupts_held)
            self._ffmpeg = imageio_ffmpeg.write_frames(
                str(self._tmp),
                (w + w % 2, h + h % 2),
                fps=self.fps if isinstance(self.fps, Fraction) else float(self.fps),
                quality=self.quality,
                codec="libx264",
                pix_fmt_in="rgb24",
                pix_fmt_out="yuv420p",
                macro_block_size=2,
                output_params=["-movflags", "+faststart"],
            )
            self._ffmpeg.send(None)  # start ffmpeg

    def _finish(self) -> None:
        if self.num_frames == 0:
            raise InputError(f"no frames were appended to {self.path.name}; nothing written")
        if self.kind == ".mp4":
            gen, self._ffmpeg = self._ffmpeg, None
            gen.close()  # flushes and waits for ffmpeg
        else:
            frames, self._gif_frames = self._gif_frames, []
            frames[0].save(
                self._tmp,
                format="GIF",
                save_all=True,
                append_images=frames[1:],
                duration=max(10, round(1000.0 / float(self.fps))),
                loop=0,
                optimize=False,
            )

    def _abort(self) -> None:
        self._gif_frames = []
        gen, self._ffmpeg = self._ffmpeg, None
        if gen is not None:
            try:
                gen.close()
            except Exception:  # the temporary file is deleted next anyway
                log.debug("ffmpeg did not close cleanly while aborting %s", self.path, exc_info=True)


def write_video(path: str | Path, frames: Any, fps: float = 30.0, quality: float = 7.0) -> Path:
    """Write ``frames`` to ``path`` (.mp4 or .gif), atomically.

    Args:
        path: destination file; the suffix picks the format.
        frames: (T, H, W, 3) uint8 or float in [0, 1] array, or any iterable of (H, W, 3) frames.
        fps: frames per second.
        quality: mp4 quality 1..10.

    Returns:
        The path written.
    """
    if hasattr(frames, "detach"):
        frames = frames.detach().cpu().numpy()
    if isinstance(frames, np.ndarray) and frames.ndim != 4:
        raise InputError(f"frames must have shape (T, H, W, 3), got {frames.shape}")
    with VideoWriter(path, fps=fps, quality=quality) as video:
        for frame in frames:
            video.append(frame)
    return Path(path)


def iter_video(path: str | Path, max_frames: int | None = None, stride: int = 1) -> tuple[Iterator[np.ndarray], float]:
    """Open a video and stream its frames.

    The file is checked before this returns (an unreadable file raises here, not on the first frame).

    Args:
        path: .mp4, .mov, .webm, .avi, .mkv, .gif, ... (anything ffmpeg decodes; .gif through Pillow).
        max_frames: stop after this many frames (after striding); None for all.
        stride: keep every ``stride``-th frame, starting with the first.

    Returns:
        (frames, fps): an iterator of (H, W, 3) uint8 frames, and the file's frame rate (0.0 if
        unknown) -- not divided by ``stride``.
    """
    path = Path(path)
    if not isinstance(stride, int) or stride < 1:
        raise InputError(f"stride must be an integer >= 1, got {stride!r}")
    if max_frames is not None and (not isinstance(max_frames, int) or max_frames < 0):
        raise InputError(f"max_frames must be an integer >= 0 or None, got {max_frames!r}")
    if not path.exists():
        raise InputError(f"no such file: {path}; pass the path of a video")
    if not path.is_file():
        raise InputError(f"{path} is not a file; pass the path of a video")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is an empty file (0 bytes); pass a video (.mp4, .gif, ...)")
    if path.suffix.lower() == ".gif":
        raw, fps = _open_gif(path)
    else:
        raw, fps = _open_ffmpeg(path)
    return _select(raw, max_frames, stride), fps


def read_video(path: str | Path, max_frames: int | None = None, stride: int = 1) -> tuple[np.ndarray, float]:
    """Read a whole video into memory.

    Args: as :func:`iter_video`.

    Returns:
        (frames, fps): (T, H, W, 3) uint8 array with T >= 1, and the file's frame rate.

    Raises:
        InputError: missing, empty or undecodable file, or a video without frames.
    """
    it, fps = iter_video(path, max_frames=max_frames, stride=stride)
    frames = list(it)
    if not frames and max_frames != 0:
        raise InputError(f"{path} has no video frames; pass a video file")
    if not frames:
        return np.zeros((0, 0, 0, 3), np.uint8), fps
    return np.stack(frames), fps


# ---------------------------------------------------------------------------------------------------


def _select(frames: Iterator[np.ndarray], max_frames: int | None, stride: int) -> Iterator[np.ndarray]:
    kept = 0
    try:
        if max_frames == 0:
            return
        for i, frame in enumerate(frames):
            if i % stride:
                continue
            yield frame
            kept += 1
            if max_frames is not None and kept >= max_frames:
                break
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()


def _open_ffmpeg(path: Path) -> tuple[Iterator[np.ndarray], float]:
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24", output_params=["-fps_mode", "passthrough"])
    try:
        with interrupts_held():  # the first frame starts ffmpeg: a Ctrl-C during the fork would be dropped
            meta = next(gen)
        w, h = (int(v) for v in meta["size"])
    except (StopIteration, OSError, RuntimeError, KeyError, ValueError) as e:
        gen.close()
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"{path} is not a readable video ({first}); pass an .mp4 or .gif file") from None
    except BaseException:  # the interrupt, delivered after the start: no ffmpeg left running
        gen.close()
        raise
    fps = float(meta.get("fps") or 0.0)

    def frames() -> Iterator[np.ndarray]:
        try:
            for buf in gen:
                yield np.frombuffer(buf, np.uint8).reshape(h, w, 3)
        except (OSError, RuntimeError) as e:
            raise InputError(f"{path} could not be decoded to the end ({e}); re-encode the video") from None
        finally:
            gen.close()

    return frames(), fps


def _open_gif(path: Path) -> tuple[Iterator[np.ndarray], float]:
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        im = Image.open(path)
        im.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InputError(f"{path} is not a readable GIF ({e}); pass an .mp4 or .gif file") from None
    durations = []
    try:
        for frame in ImageSequence.Iterator(im):
            durations.append(frame.info.get("duration", 0) or 0)
            if len(durations) >= 64:
                break
    except (OSError, EOFError):
        pass
    positive = [d for d in durations if d > 0]
    fps = 1000.0 / float(np.median(positive)) if positive else 0.0
    im.seek(0)

    def frames() -> Iterator[np.ndarray]:
        try:
            for frame in ImageSequence.Iterator(im):
                yield np.asarray(frame.convert("RGB"))
        except (OSError, EOFError) as e:
            raise InputError(f"{path} could not be decoded to the end ({e}); re-export the GIF") from None
        finally:
            im.close()

    return frames(), fps
