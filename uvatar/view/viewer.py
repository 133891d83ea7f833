"""``uvatar view``: a local web viewer of Gaussians (viser), with motion playback for avatars.

The server binds to 127.0.0.1 unless another host is asked for. The page shows the Gaussians with
orbit/pan/zoom camera controls; for a ``.uvatar`` a panel plays a looping motion (``uvatar.animate``'s
built-ins, or a procedural wave when that package is absent): motion menu, play/pause, frame slider,
speed. Body space is Z up, the body faces -Y: the initial camera looks at its front.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from uvatar.errors import DependencyError, InputError
from uvatar.view.scene import display_scale, motion_names

__all__ = ["default_motion", "start_viewer", "serve"]

log = logging.getLogger(__name__)

# viser culls splats whose 2D footprint is under about half a pixel (alpha * det(cov2d + 0.3) < 0.25),
# which hides a reconstructed avatar's sub-millimetre Gaussians unless zoomed in. So by default
# ("auto splat size") every Gaussian is shown at least _MIN_PIXELS pixels wide (standard deviation)
# for the client's current camera, recomputed when the camera moves; a GUI slider sets it by hand.
_MIN_PIXELS = 0.6
_DEFAULT_MIN_SCALE = 0.002  # metres, until a client reports its camera
_CAMERA_SETTLE_S = 0.3
_INITIAL_FOV_DEG = 50.0


def _import_viser():
    try:
        import viser
    except ImportError:
        raise DependencyError("the viewer needs viser: pip install 'viser==1.1.1' (or reinstall UVatar)") from None
    return viser


class _Viewer:
    """A running viewer: the viser server, the splat node, the playback state."""

    def __init__(self, scene, host: str, port: int) -> None:
        import numpy as np

        viser = _import_viser()
        self.scene = scene
        try:
            self.server = viser.ViserServer(host=host, port=port, label="UVatar", verbose=False)
        except OSError as exc:
            raise InputError(f"cannot serve on {host}:{port} ({exc.strerror or exc}); choose another --port") from None
        self.host, self.port = host, int(self.server.get_port())  # viser moves on to the next free port
        frame = scene.frame(None)
        self.min_scale = _DEFAULT_MIN_SCALE
        self.k = display_scale(frame.scales)
        self.server.scene.set_up_direction("+z")
        self.server.scene.world_axes.visible = False
        centre = (frame.centers.max(0) + frame.centers.min(0)) / 2 if len(frame.centers) else np.zeros(3, dtype=np.float32)
        self.extent = max(float(np.ptp(frame.centers, axis=0).max()) if len(frame.centers) else 1.0, 0.1)
        self.look_at = tuple(float(x) for x in centre)
        self.splats = self.server.scene.add_gaussian_splats(
            "/avatar", **self._packed(frame), scale=1.0 / self.k,
        )  # fmt: skip
        self.playing = threading.Event()
        self.frame_index = 0
        self.shown = None
        self._lock = threading.Lock()
        self._camera_timer = None
        self._timer_lock = threading.Lock()
        self._build_gui()
        self._set_initial_camera()
        self.server.on_client_connect(self._on_connect)

    def _set_initial_camera(self) -> None:
        """Every new client starts in front of the body (it faces -Y), the body filling the view."""
        import math

        fov = math.radians(_INITIAL_FOV_DEG)
        distance = 0.65 * self.extent / math.tan(fov / 2)
        x, y, z = self.look_at
        camera = self.server.initial_camera
        camera.fov = fov
        camera.up = (0.0, 0.0, 1.0)
        camera.position = (x, y - distance, z)
        camera.look_at = self.look_at

    def _on_connect(self, client) -> None:
        client.camera.on_update(self._on_camera)

    def _on_camera(self, camera) -> None:
        """Camera moved: recompute the auto splat size once the camera has been still for a moment
        (a drag sends many updates; a new client first reports its default camera, then ours)."""
        with self._timer_lock:
            if self._camera_timer is not None:
                self._camera_timer.cancel()
            self._camera_timer = threading.Timer(_CAMERA_SETTLE_S, self._auto_size, args=(camera,))
            self._camera_timer.daemon = True
            self._camera_timer.start()

    def _auto_size(self, camera) -> None:
        """Auto splat size: keep every Gaussian at least ``_MIN_PIXELS`` wide for this camera."""
        import math

        if not self.auto_size.value or not camera.image_height or not camera.fov:
            return
        distance = math.dist(tuple(camera.position), self.look_at)
        focal = 0.5 * float(camera.image_height) / math.tan(float(camera.fov) / 2)
        wanted = min(0.02, _MIN_PIXELS * max(distance, 0.05) / focal)
        if abs(wanted - self.min_scale) > 0.2 * self.min_scale:
            self.min_scale = wanted
            self.size.value = round(1000 * wanted, 2)
            self.show(self.shown if not self.playing.is_set() else self.frame_index)

    def _build_gui(self) -> None:
        gui = self.server.gui
        gui.add_markdown(f"**UVatar** · {self.scene.n_gaussians:,} Gaussians")
        self.auto_size = gui.add_checkbox(
            "Auto splat size", initial_value=True,
            hint="viser skips splats under about half a pixel: show every Gaussian at least that large",
        )  # fmt: skip
        self.size = gui.add_slider("Min. splat size (mm)", min=0.0, max=20.0, step=0.05, initial_value=1000 * _DEFAULT_MIN_SCALE)

        @self.size.on_update
        def _(event) -> None:
            if event.client is None:  # set by the server (auto size), already shown
                return
            self.auto_size.value = False
            self.min_scale = float(self.size.value) / 1000.0
            self.show(self.frame_index if self.playing.is_set() else self.shown)

        if self.scene.avatar is None:
            return  # a .ply: no motion
        self.motion = gui.add_dropdown("Motion", motion_names(), initial_value=self.scene.motion_name or motion_names()[0])
        self.play = gui.add_checkbox("Play", initial_value=False)
        self.slider = gui.add_slider("Frame", min=0, max=max(self.scene.n_frames - 1, 1), step=1, initial_value=0)
        self.fps = gui.add_slider("Frames per second", min=1, max=60, step=1, initial_value=int(round(self.scene.fps)))
        rest = gui.add_button("Reference pose")

        @self.motion.on_update
        def _(_event) -> None:
            self.set_motion(str(self.motion.value))

        @self.play.on_update
        def _(_event) -> None:
            if self.play.value and self.scene.n_frames == 0:
                self.set_motion(str(self.motion.value))
            (self.playing.set if self.play.value else self.playing.clear)()

        @self.slider.on_update
        def _(event) -> None:
            if event.client is not None and not self.playing.is_set() and self.scene.n_frames:
                self.frame_index = int(self.slider.value)
                self.show(self.frame_index)

        @rest.on_click
        def _(_event) -> None:
            self.play.value = False
            self.playing.clear()
            self.show(None)

    def set_motion(self, name: str) -> None:
        """Load motion ``name`` and show its first frame (playback continues if it was on)."""
        with self._lock:
            self.scene.set_motion(name)
        self.frame_index = 0
        self.slider.max = max(self.scene.n_frames - 1, 1)
        self.slider.value = 0
        self.fps.value = int(round(self.scene.fps))
        self.show(0)

    def show(self, index: int | None) -> None:
        """Show motion frame ``index`` (None: the still pose)."""
        with self._lock:
            frame = self.scene.frame(index)
            self.splats.set_gaussians(**self._packed(frame))
            self.shown = index

    def _packed(self, frame) -> dict:
        """viser's arguments for a frame, sent ``k`` times larger (:func:`uvatar.view.scene.display_scale`)
        and shown at ``1 / k``, so that float16 covariances keep millimetre Gaussians."""
        k = self.k
        return {
            "centers": frame.centers * k,
            "covariances": frame.covariances(self.min_scale) * (k * k),
            "rgbs": frame.rgbs,
            "opacities": frame.opacities,
        }

    def step(self) -> float:
        """Advance playback by one frame when playing; the seconds to wait before the next step."""
        if not self.playing.is_set() or self.scene.n_frames == 0:
            return 0.05
        start = time.perf_counter()
        self.frame_index = (self.frame_index + 1) % self.scene.n_frames
        self.show(self.frame_index)
        self.slider.value = self.frame_index
        return max(0.0, 1.0 / float(self.fps.value) - (time.perf_counter() - start))

    def stop(self) -> None:
        if self._camera_timer is not None:
            self._camera_timer.cancel()
        self.server.stop()


def default_motion() -> str:
    """The motion an avatar starts with: ``wave`` when ``uvatar.animate`` ships it, else the procedural one."""
    names = motion_names()
    return "wave" if "wave" in names else names[0]


def start_viewer(path: str | Path, host: str = "127.0.0.1", port: int = 8080, max_gaussians: int = 0, motion: str | None = None, body=None) -> _Viewer:
    """Load ``path`` and start serving it (returns at once; the server runs in background threads).

    ``motion``: the motion an avatar starts with (:func:`uvatar.view.scene.motion_names`; default
    :func:`default_motion`); ignored for a ``.ply``.
    """
    from uvatar.view.scene import load_scene

    _import_viser()
    if motion is not None and motion not in motion_names():
        raise InputError(f"unknown motion {motion!r}; choose one of {', '.join(motion_names())}")
    is_avatar = Path(path).suffix.lower() == ".uvatar"
    scene = load_scene(path, max_gaussians=max_gaussians, motion=(motion or default_motion()) if is_avatar else None, body=body)
    return _Viewer(scene, host, port)


def serve(path: str | Path, host: str = "127.0.0.1", port: int = 8080, max_gaussians: int = 0, motion: str | None = None, announce=None) -> None:
    """Serve the viewer until interrupted (Ctrl+C)."""
    say = announce or log.info
    viewer = start_viewer(path, host=host, port=port, max_gaussians=max_gaussians, motion=motion)
    shown = "localhost" if host in ("127.0.0.1", "localhost") else host
    if viewer.port != port:
        say(f"port {port} is busy; using {viewer.port}")
    say(f"viewer of {path} ({viewer.scene.n_gaussians:,} Gaussians) at http://{shown}:{viewer.port} (Ctrl+C to stop)")
    if host not in ("127.0.0.1", "localhost", "::1"):
        say(f"warning: bound to {host}: anyone who can reach this machine can open the viewer")
    try:
        while True:
            time.sleep(viewer.step())
    finally:
        viewer.stop()
