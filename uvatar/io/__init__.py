"""File formats: images (EXIF, odd modes, checks), 3DGS .ply, video and GIF, atomic writes."""

from uvatar.io.atomic import atomic_dir, atomic_path, atomic_write_bytes, atomic_write_text
from uvatar.io.image import LoadedImage, load_image, save_image, to_uint8
from uvatar.io.ply import SH_C0, GaussianCloud, read_gaussian_ply, write_gaussian_ply
from uvatar.io.video import VideoWriter, iter_video, read_video, write_video

__all__ = [
    "atomic_dir", "atomic_path", "atomic_write_bytes", "atomic_write_text",
    "LoadedImage", "load_image", "save_image", "to_uint8",
    "SH_C0", "GaussianCloud", "read_gaussian_ply", "write_gaussian_ply",
    "VideoWriter", "iter_video", "read_video", "write_video",
]  # fmt: skip
