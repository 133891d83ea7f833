"""Triangle rasterizer on OpenGL through moderngl on headless EGL (Mesa llvmpipe on a CPU machine).

The fast twin of :mod:`uvatar.render._mesh_torch` (same inputs, same outputs, same winding, same
pixel-centre sampling; tests compare the two). The CPU projects the vertices with the OpenCV ``K``
(pixel x, pixel y, camera z); faces are drawn unindexed, each of a face's 3 vertices carrying all three
corners. The vertex shader places a corner at clip ``((2x/W - 1) z, (2y/H - 1) z, A z + B, z)``, so GL's
window x, y are exactly the pixel coordinates of ``Camera.project`` (window row 0 = image row 0: the
read-back needs no flip; that y-down mapping mirrors the winding, hence ``front_face = 'cw'``). GL
decides coverage (pixel centres, top-left rule) and the z-test; the fragment shader writes
``gl_PrimitiveID + 1`` to an R32I texture cleared to 0, and the perspective-correct barycentrics
(RGB32F, cleared to 0) and camera z (R32F, cleared to inf), computed from edge functions at
``gl_FragCoord`` exactly as the torch twin does; the textures are read straight into the output tensors.

One GL context per process, created lazily and guarded by a lock; framebuffers are cached per size.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
import torch

from uvatar.errors import DependencyError

__all__ = ["rasterize_moderngl", "moderngl_available", "shared_context", "depth_mapping"]

log = logging.getLogger(__name__)

_VERTEX_SHADER = """
#version 330
uniform vec2 size;      // image width, height (pixels)
uniform vec2 depth_ab;  // z_clip = depth_ab.x * z + depth_ab.y
in vec3 in_a;           // the face's corners: (pixel x, pixel y, camera z), repeated on its 3 vertices
in vec3 in_b;
in vec3 in_c;
flat out vec3 v_a;
flat out vec3 v_b;
flat out vec3 v_c;
void main() {
    int k = gl_VertexID % 3;
    vec3 p = k == 0 ? in_a : (k == 1 ? in_b : in_c);
    v_a = in_a;
    v_b = in_b;
    v_c = in_c;
    // window x = pixel x, window y = pixel y (row 0 of the read-back = image row 0), w = camera z.
    gl_Position = vec4((2.0 * p.x / size.x - 1.0) * p.z, (2.0 * p.y / size.y - 1.0) * p.z,
                       depth_ab.x * p.z + depth_ab.y, p.z);
}
"""

# Barycentrics from edge functions at the pixel centre (gl_FragCoord), in the same float32 arithmetic
# as the torch twin, from the unsnapped corner positions: GL's own attribute interpolation works from
# vertex positions snapped to 1/256 pixel, which costs ~1e-3 in barycentrics on small triangles.
_FRAGMENT_SHADER = """
#version 330
flat in vec3 v_a;
flat in vec3 v_b;
flat in vec3 v_c;
layout(location = 0) out int f_face;
layout(location = 1) out vec3 f_bary;
layout(location = 2) out float f_z;
void main() {
    vec2 p = gl_FragCoord.xy;
    float area = (v_b.x - v_a.x) * (v_c.y - v_a.y) - (v_b.y - v_a.y) * (v_c.x - v_a.x);
    float w0 = (v_c.x - v_b.x) * (p.y - v_b.y) - (v_c.y - v_b.y) * (p.x - v_b.x);
    float w1 = (v_a.x - v_c.x) * (p.y - v_c.y) - (v_a.y - v_c.y) * (p.x - v_c.x);
    float w2 = (v_b.x - v_a.x) * (p.y - v_a.y) - (v_b.y - v_a.y) * (p.x - v_a.x);
    vec3 s = max(vec3(w0, w1, w2) / area, 0.0);  // GL may cover a centre a hair outside: clamp
    s = s / (s.x + s.y + s.z);
    vec3 q = s / vec3(v_a.z, v_b.z, v_c.z);
    float inv_z = q.x + q.y + q.z;
    f_face = gl_PrimitiveID + 1;
    f_bary = q / inv_z;
    f_z = 1.0 / inv_z;
}
"""


class _GLState:
    """The process-wide context, program, vertex buffer and per-size framebuffers."""

    def __init__(self) -> None:
        import moderngl

        self.moderngl = moderngl
        self.ctx = moderngl.create_standalone_context(backend="egl")
        self.program = self.ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER)
        self.vbo = None
        self.vao = None
        self.framebuffers: dict[tuple[int, int], tuple] = {}
        log.debug("moderngl EGL context: %s, GL %s", self.ctx.info["GL_RENDERER"], self.ctx.version_code)

    def vertex_array(self, n_bytes: int):
        if self.vbo is None or self.vbo.size < n_bytes:
            if self.vbo is not None:
                self.vao.release()
                self.vbo.release()
            self.vbo = self.ctx.buffer(reserve=max(n_bytes, 1 << 16), dynamic=True)
            self.vao = self.ctx.vertex_array(self.program, [(self.vbo, "3f 3f 3f", "in_a", "in_b", "in_c")])
        return self.vbo, self.vao

    def framebuffer(self, width: int, height: int) -> tuple:
        """``(draw_fbo, clear_zero_fbo, clear_inf_fbo, face_tex, bary_tex, z_tex, face_i32, depth_rb)`` for one size."""
        key = (width, height)
        if key not in self.framebuffers:
            if len(self.framebuffers) >= 8:  # keep a few sizes; release the oldest
                for obj in self.framebuffers.pop(next(iter(self.framebuffers))):
                    obj.release()
            face_tex = self.ctx.texture((width, height), 1, dtype="i4")
            bary_tex = self.ctx.texture((width, height), 3, dtype="f4")
            z_tex = self.ctx.texture((width, height), 1, dtype="f4")
            depth_rb = self.ctx.depth_renderbuffer((width, height))
            draw = self.ctx.framebuffer([face_tex, bary_tex, z_tex], depth_attachment=depth_rb)
            clear_zero = self.ctx.framebuffer([face_tex, bary_tex], depth_attachment=depth_rb)
            clear_inf = self.ctx.framebuffer([z_tex])
            face_i32 = _Host(np.empty((height, width), dtype=np.int32))  # reused read-back buffer
            self.framebuffers[key] = (draw, clear_zero, clear_inf, face_tex, bary_tex, z_tex, face_i32, depth_rb)
        return self.framebuffers[key]


class _Host:
    """A host array kept with the GL objects of one size (``release`` is a no-op)."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def release(self) -> None:
        pass


_STATE: _GLState | None = None
_STATE_ERROR: str | None = None
_LOCK = threading.Lock()


def _state() -> _GLState:
    """The lazily created process-wide GL state; raises DependencyError if EGL is unusable."""
    global _STATE, _STATE_ERROR
    if _STATE is not None:
        return _STATE
    if _STATE_ERROR is not None:
        raise DependencyError(_STATE_ERROR)
    try:
        _STATE = _GLState()
    except Exception as exc:  # noqa: BLE001 - any failure (import, EGL, driver) means "unavailable"
        _STATE_ERROR = (
            f"cannot create a headless OpenGL (EGL) context with moderngl: {exc}. "
            "Install moderngl and Mesa's EGL (Debian: libegl1 libgl1-mesa-dri), or use backend='torch'."
        )
        raise DependencyError(_STATE_ERROR) from None
    return _STATE


def shared_context():
    """``(lock, ctx, moderngl)``: the process-wide EGL context for other GL renderers (the synthetic-data
    renderer). Hold ``lock`` around every use of ``ctx``; raises DependencyError if EGL is unusable."""
    with _LOCK:
        state = _state()
    return _LOCK, state.ctx, state.moderngl


def moderngl_available() -> bool:
    """Whether the moderngl EGL backend works in this process (creates the context on first call)."""
    with _LOCK:
        try:
            _state()
        except DependencyError:
            return False
    return True


def depth_mapping(near: float, far: float) -> tuple[float, float]:
    """``(A, B)`` with ``z_clip = A z + B``, ``w_clip = z``: camera z in ``[near, far]`` (metres) to NDC ``[-1, 1]``."""
    return (far + near) / (far - near), -2.0 * far * near / (far - near)


def rasterize_moderngl(
    verts_cam: torch.Tensor,
    faces: torch.Tensor,
    K: torch.Tensor,
    width: int,
    height: int,
    cull_backfaces: bool = True,
    near: float = 1e-3,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rasterize with OpenGL; same contract as :func:`uvatar.render._mesh_torch.rasterize_torch`.

    Args:
        verts_cam: ``(V, 3)`` camera-frame vertices (OpenCV), metres.
        faces: ``(F, 3)`` int64 vertex indices.
        K: ``(3, 3)`` intrinsics, pixels.
        width, height: image size, pixels.
        cull_backfaces: drop faces with non-negative signed pixel area (y-down), i.e. clockwise as displayed.
        near: faces with any vertex at z <= near (metres) are dropped whole (no clipping).
    Returns:
        face_index ``(H, W)`` int64 (-1 empty), barycentrics ``(H, W, 3)`` float32, depth ``(H, W)``
        float32 (camera z, metres, inf where empty); CPU tensors.
    Raises:
        DependencyError: no EGL context can be created.
    """
    # All CPU-side work is numpy (single-threaded): torch's thread pool slows down badly on a
    # 2-core machine when another process holds a core.
    verts_np = verts_cam.detach().cpu().numpy().astype(np.float32, copy=False)
    faces_np = faces.detach().cpu().numpy()
    k = K.detach().cpu().numpy().astype(np.float32)
    z = verts_np[:, 2]
    uvw = verts_np @ k.T
    pix = uvw[:, :2] / np.where(z > near, z, np.float32(1.0))[:, None]
    corner_xyz = np.concatenate([pix, z[:, None]], axis=1).astype(np.float32)[faces_np]  # (F, 3, 3)
    face_z = corner_xyz[..., 2]
    drawn = (face_z > near).all(axis=1) & np.isfinite(corner_xyz).all(axis=(1, 2))
    n_drawn = int(drawn.sum())
    if n_drawn:
        z_drawn = face_z[drawn] if n_drawn < len(drawn) else face_z
        z_lo, z_hi = float(z_drawn.min()), float(z_drawn.max())
    else:
        z_lo, z_hi = 1.0, 2.0
    if n_drawn < len(drawn):
        # Faces crossing the near plane (or not finite) are dropped whole, as in the torch twin: put them
        # behind the camera.
        corner_xyz[~drawn] = (0.0, 0.0, -1.0)
    # Each of a face's 3 vertices carries all 3 corners (flat varyings for the fragment shader).
    data = np.ascontiguousarray(
        np.broadcast_to(corner_xyz.reshape(-1, 1, 9), (corner_xyz.shape[0], 3, 9)), dtype=np.float32
    )
    # Tight depth range for the 24-bit depth buffer: ~1e-7 m steps for a body a few metres away.
    depth_ab = depth_mapping(0.9 * z_lo, 1.1 * z_hi + 1e-6)

    # Outputs are read straight into fresh torch tensors (no copies but the int32 -> int64 widening).
    face_index = torch.empty((height, width), dtype=torch.int64)
    barycentrics = torch.empty((height, width, 3), dtype=torch.float32)
    depth = torch.empty((height, width), dtype=torch.float32)
    with _LOCK:
        state = _state()
        ctx = state.ctx
        mgl = state.moderngl
        with ctx:
            draw, clear_zero, clear_inf, face_tex, bary_tex, z_tex, face_i32, _ = state.framebuffer(width, height)
            # glClear with a float colour on an integer texture is formally undefined; 0.0 has the bit
            # pattern of integer 0 and Mesa clears to 0 (a test renders twice to catch a stale id).
            clear_zero.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
            clear_inf.clear(float("inf"), 0.0, 0.0, 0.0)
            if faces_np.shape[0] > 0:
                vbo, vao = state.vertex_array(data.nbytes)
                vbo.write(data)
                state.program["size"].value = (float(width), float(height))
                state.program["depth_ab"].value = depth_ab
                draw.use()
                ctx.enable(mgl.DEPTH_TEST)
                ctx.depth_func = "<"
                if cull_backfaces:
                    ctx.enable(mgl.CULL_FACE)
                    ctx.front_face = "cw"
                    ctx.cull_face = "back"
                else:
                    ctx.disable(mgl.CULL_FACE)
                vao.render(mgl.TRIANGLES, vertices=3 * faces_np.shape[0])
            face_tex.read_into(face_i32.array)
            bary_tex.read_into(barycentrics.numpy())
            z_tex.read_into(depth.numpy())
            np.subtract(face_i32.array, 1, out=face_index.numpy(), casting="safe")
    return face_index, barycentrics, depth
