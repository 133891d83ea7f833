"""mp4 and gif writing/reading, streaming, atomicity."""

from __future__ import annotations

import numpy as np
import pytest
from float_bounds import U64

from uvatar.errors import InputError
from uvatar.io.video import VideoWriter, iter_video, read_video, write_video

T, H, W = 10, 48, 64


def _frames() -> np.ndarray:
    """10 flat-colour frames, each clearly different (red ramps up, blue ramps down)."""
    f = np.zeros((T, H, W, 3), np.uint8)
    for t in range(T):
        f[t] = [t * 25, 128, 255 - t * 25]
    return f


def test_mp4_round_trip(tmp_path):
    frames = _frames()
    p = write_video(tmp_path / "out" / "a.mp4", frames, fps=30)
    back, fps = read_video(p)
    assert back.shape == (T, H, W, 3) and back.dtype == np.uint8
    assert fps == pytest.approx(30.0, rel=4 * U64)  # the container's rate 30/1, as a float (was rel 1e-6)
    # H.264 + yuv420p on flat colours: a codec tolerance, not a float bound (measured 3 levels)
    assert np.abs(back.astype(int) - frames).max() <= 6
    assert [q.name for q in p.parent.iterdir()] == ["a.mp4"]


def test_mp4_from_float_frames(tmp_path):
    frames = _frames()
    back, _ = read_video(write_video(tmp_path / "f.mp4", frames / 255.0, fps=12))
    assert np.abs(back.astype(int) - frames).max() <= 6  # codec tolerance as above (measured 3)


def test_gif_round_trip(tmp_path):
    frames = _frames()
    p = write_video(tmp_path / "a.gif", frames, fps=25)
    back, fps = read_video(p)
    assert back.shape == (T, H, W, 3)
    np.testing.assert_array_equal(back, frames)  # few flat colours: the palette is exact
    assert fps == pytest.approx(25.0, rel=4 * U64)  # 40 ms per frame (was rel 1e-6)
    from PIL import Image

    with Image.open(p) as im:
        assert im.info.get("loop") == 0  # loops forever
        assert im.n_frames == T


def test_odd_size_is_padded_for_mp4(tmp_path):
    frames = _frames()[:, : H - 1, : W - 1]
    back, _ = read_video(write_video(tmp_path / "odd.mp4", frames))
    assert back.shape == (T, H, W, 3)
    # The padding repeats the edge, so the last row and column match their neighbours (codec tolerance as
    # above; measured 3, 0 and 0 levels).
    assert np.abs(back[:, : H - 1, : W - 1].astype(int) - frames).max() <= 6
    assert np.abs(back[:, -1].astype(int) - back[:, -2]).max() <= 6
    assert np.abs(back[:, :, -1].astype(int) - back[:, :, -2]).max() <= 6


def test_stride_and_max_frames(tmp_path):
    p = write_video(tmp_path / "a.gif", _frames(), fps=10)
    back, _ = read_video(p, stride=3)
    np.testing.assert_array_equal(back[:, 0, 0, 0], [0, 75, 150, 225])
    back, _ = read_video(p, stride=2, max_frames=2)
    np.testing.assert_array_equal(back[:, 0, 0, 0], [0, 50])
    mp4 = write_video(tmp_path / "a.mp4", _frames(), fps=10)
    back, _ = read_video(mp4, stride=4, max_frames=5)
    assert len(back) == 3
    assert np.abs(back[:, 0, 0, 0].astype(int) - [0, 100, 200]).max() <= 6  # codec tolerance as above


def test_streaming_writer_and_iterator(tmp_path):
    frames = _frames()
    with VideoWriter(tmp_path / "s.mp4", fps=24) as video:
        for f in frames:
            video.append(f)
        assert not (tmp_path / "s.mp4").exists()  # nothing at the destination until the end
    assert video.num_frames == T and video.size == (W, H)
    it, fps = iter_video(tmp_path / "s.mp4")
    assert fps == pytest.approx(24.0, rel=4 * U64)  # the container's rate 24/1 (was rel 1e-6)
    assert sum(1 for _ in it) == T


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_exception_inside_writer_leaves_no_file(tmp_path, suffix):
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(tmp_path / f"x{suffix}") as video:
            video.append(_frames()[0])
            video.append(_frames()[1])
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_exception_keeps_the_previous_video(tmp_path):
    p = write_video(tmp_path / "x.mp4", _frames())
    before = p.read_bytes()
    with pytest.raises(InputError, match="same size"), VideoWriter(p) as video:
        video.append(_frames()[0])
        video.append(np.zeros((H, W + 2, 3), np.uint8))
    assert p.read_bytes() == before
    assert [q.name for q in tmp_path.iterdir()] == ["x.mp4"]


def test_no_frames_is_an_error_and_leaves_nothing(tmp_path):
    with pytest.raises(InputError, match="no frames"):
        with VideoWriter(tmp_path / "e.mp4"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_writer_argument_checks(tmp_path):
    with pytest.raises(InputError, match="mp4"):
        VideoWriter(tmp_path / "x.avi")
    with pytest.raises(InputError, match="fps"):
        VideoWriter(tmp_path / "x.mp4", fps=0)
    with pytest.raises(InputError, match=r"\(T, H, W, 3\)"):
        write_video(tmp_path / "x.mp4", np.zeros((H, W, 3), np.uint8))
    with pytest.raises(InputError, match="outside"):
        VideoWriter(tmp_path / "x.mp4").append(_frames()[0])
    assert list(tmp_path.iterdir()) == []


def test_unreadable_videos(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_video(tmp_path / "missing.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_video(tmp_path / "empty.mp4")
    (tmp_path / "text.mp4").write_text("not a video at all\n" * 10)
    with pytest.raises(InputError, match="not a readable video"):
        read_video(tmp_path / "text.mp4")
    (tmp_path / "text.gif").write_text("not a gif\n")
    with pytest.raises(InputError, match="not a readable GIF"):
        read_video(tmp_path / "text.gif")
    with pytest.raises(InputError, match="not a file"):
        read_video(tmp_path)
    with pytest.raises(InputError, match="stride"):
        read_video(tmp_path / "text.mp4", stride=0)


def test_a_ctrl_c_while_the_reader_starts_ffmpeg_is_raised_and_closes_it(tmp_path, monkeypatch, dropped_ctrl_c):
    """A Ctrl-C that arrives while ffmpeg is being started comes out as KeyboardInterrupt once it has
    started, and the reader is closed (no ffmpeg left). In a fork the handler's exception is dropped by
    the fork's hooks; here the reader's first step drops it the same way."""
    import imageio_ffmpeg

    closed = []

    def reader(*args, **kwargs):
        try:
            dropped_ctrl_c()
            yield {"size": (4, 2), "fps": 10.0}
            yield bytes(4 * 2 * 3)
        finally:
            closed.append(True)

    monkeypatch.setattr(imageio_ffmpeg, "read_frames", reader)
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"not read: read_frames is replaced")
    with pytest.raises(KeyboardInterrupt):
        read_video(path)
    assert closed == [True]
