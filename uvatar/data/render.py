"""Shaded rendering of synthetic subjects: one OpenGL (moderngl, headless EGL) pass per view.

A :class:`SubjectRenderer` takes one subject (posed body mesh, optional shell mesh, their UV textures
and a :class:`~uvatar.data.lighting.Lighting`) once, then renders any number of views cheaply:

1. once per subject: the meshes and textures are uploaded, and a shadow map is drawn from the key
   light (orthographic, 1024^2 depth);
2. per view, into a 4x multisampled RGBA8 target: the environment seen behind the person (a
   full-screen pass over the equirectangular map), the floor (shaded by the fill and the key light,
   with the key light's shadow and a contact shadow, fading into the environment with distance), the
   body (back faces culled; faces that worn templates hide are left out), the shell and the worn
   template meshes (hair, garments, shoes; alpha-tested at 0.5, both sides drawn). Shading per
   pixel: albedo from the UV texture (sRGB decoded), order-2 SH irradiance of the environment plus
   a wrapped-Lambert key light with filtered shadows, a Blinn-Phong highlight whose strength the
   texture's alpha gives (body) or a constant (shell, templates), then exposure, a filmic curve, sRGB
   encoding, a mild vignette and per-pixel sensor noise. The person writes alpha 1 and
   everything else alpha 0, so the resolved alpha is the person's coverage (the mask). Last, on the
   read-back image, the camera's sharpening (:func:`camera_sharpen`, an unsharp mask as cameras and
   phones apply; without it the renders have about half the fine contrast of real photos);
3. optionally a single-sample auxiliary pass writes ``(u, v, layer, depth)`` per pixel (layer 1 body,
   2 shell, 3 + k template mesh k in its own UV map, 0 nothing): the dense correspondence from pixels
   to the subject's UV maps.

Conventions: world = Anny body space (metres, Z up); cameras are :class:`uvatar.camera.Camera`
(OpenCV). Window pixel ``(x, y)`` equals image ``(col + 0.5, row + 0.5)`` and row 0 is the top (as in
:mod:`uvatar.render._mesh_moderngl`, whose process-wide GL context this module shares).
UVs follow the atlas convention of :mod:`uvatar.body.uv` (v up, texture row 0 at v = 1).

The plain reference for the geometry is :func:`albedo_reference`: the unlit albedo and UV per pixel
through :func:`uvatar.render.mesh.rasterize_mesh` (torch backend); tests compare the two.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from uvatar.camera import Camera
from uvatar.data.lighting import Lighting
from uvatar.errors import InputError
from uvatar.render.mesh import depth_mapping, shared_context

__all__ = ["SubjectMeshes", "RenderedView", "SubjectRenderer", "albedo_reference", "corner_arrays", "camera_sharpen"]

log = logging.getLogger(__name__)

_SURFACE_VS = """
#version 330
uniform mat3 R;
uniform vec3 t;
uniform vec4 intr;      // fx, fy, cx, cy (pixels)
uniform vec2 size;      // width, height
uniform vec2 depth_ab;
uniform int shade_vertices;   // 1: compute the SH fill per vertex (it is low-frequency)
uniform vec3 sh[9];
uniform vec3 cam_pos;
in vec3 in_pos;
in vec3 in_nrm;
in vec2 in_uv;          // (u, 1 - v): GL texture coordinates of the atlas (row 0 uploaded first)
out vec3 v_pos;
out vec3 v_nrm;
out vec2 v_uv;
out vec3 v_fill;        // SH irradiance at the normal (front side)
out vec3 v_fill_back;   // ... at the flipped normal (the inside of the shell)
out vec3 v_env_spec;    // SH irradiance around the mirror direction (a cheap glossy reflection)
SH_FUNCTIONS
void main() {
    vec3 pc = R * in_pos + t;
    float x = intr.x * pc.x / pc.z + intr.z;
    float y = intr.y * pc.y / pc.z + intr.w;
    gl_Position = vec4((2.0 * x / size.x - 1.0) * pc.z, (2.0 * y / size.y - 1.0) * pc.z,
                       depth_ab.x * pc.z + depth_ab.y, pc.z);
    v_pos = in_pos;
    v_nrm = in_nrm;
    v_uv = in_uv;
    if (shade_vertices == 1) {
        v_fill = irradiance(in_nrm);
        v_fill_back = irradiance(-in_nrm);
        v_env_spec = irradiance(reflect(normalize(in_pos - cam_pos), in_nrm));
    } else {
        v_fill = v_fill_back = v_env_spec = vec3(0.0);
    }
}
"""

# Shared shading code: SH irradiance, shadows, tone mapping and sensor effects.
_IRRADIANCE = """
vec3 irradiance(vec3 n) {
    const float c1 = 0.429043, c2 = 0.511664, c3 = 0.743125, c4 = 0.886227, c5 = 0.247708;
    // Ramamoorthi-Hanrahan closed form (sh in the order of uvatar.data.lighting.sh_basis)
    vec3 L00 = sh[0], L1m1 = sh[1], L10 = sh[2], L11 = sh[3];
    vec3 L2m2 = sh[4], L2m1 = sh[5], L20 = sh[6], L21 = sh[7], L22 = sh[8];
    float x = n.x, y = n.y, z = n.z;
    vec3 e = c1 * L22 * (x * x - y * y) + c3 * L20 * z * z + c4 * L00 - c5 * L20
           + 2.0 * c1 * (L2m2 * x * y + L21 * x * z + L2m1 * y * z)
           + 2.0 * c2 * (L11 * x + L1m1 * y + L10 * z);
    return max(e, vec3(0.0));
}
"""
_SURFACE_VS = _SURFACE_VS.replace("SH_FUNCTIONS", _IRRADIANCE)

_COMMON_FS = """
uniform vec3 sh[9];
uniform vec3 key_dir;
uniform vec3 key_rgb;
uniform vec3 cam_pos;
uniform mat4 light_mat;
uniform sampler2DShadow shadow_tex;
uniform float shadow_radius;   // texels
uniform float shadow_texel;    // 1 / shadow map size
uniform float exposure;
uniform vec3 white_balance;
uniform float vignette;
uniform vec2 size;

""" + _IRRADIANCE + """
float shadow(vec3 p, vec3 n) {
    vec3 q = p + n * 0.012 + key_dir * 0.004;   // normal and light offset against acne
    vec4 c = light_mat * vec4(q, 1.0);
    vec3 s = c.xyz * 0.5 + 0.5;
    if (s.x <= 0.0 || s.x >= 1.0 || s.y <= 0.0 || s.y >= 1.0) return 1.0;
    float r = 0.5 * shadow_radius * shadow_texel;   // 4 taps, each a hardware 2x2 comparison filter
    float sum = texture(shadow_tex, vec3(s.xy + vec2(-r, -r), s.z)) + texture(shadow_tex, vec3(s.xy + vec2(r, -r), s.z))
              + texture(shadow_tex, vec3(s.xy + vec2(-r, r), s.z)) + texture(shadow_tex, vec3(s.xy + vec2(r, r), s.z));
    return 0.25 * sum;
}

vec4 finish(vec3 radiance, float alpha) {
    vec3 x = radiance * exposure * white_balance;
    x = (x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14);   // filmic (Narkowicz ACES fit)
    vec3 c = pow(clamp(x, 0.0, 1.0), vec3(1.0 / 2.2));
    vec2 q = gl_FragCoord.xy / size - 0.5;
    c *= 1.0 - vignette * dot(q, q) * 2.0;
    return vec4(c.b, c.g, c.r, alpha);   // BGRA: the read-back is what OpenCV's PNG encoder wants
}
"""

_SURFACE_FS = (
    """
#version 330
uniform sampler2D tex;
uniform int is_shell;
in vec3 v_pos;
in vec3 v_nrm;
in vec2 v_uv;
in vec3 v_fill;
in vec3 v_fill_back;
in vec3 v_env_spec;
layout(location = 0) out vec4 f_color;
"""
    + _COMMON_FS
    + """
void main() {
    vec4 a = texture(tex, v_uv);
    if (is_shell == 1 && a.a < 0.5) discard;
    vec3 albedo = pow(a.rgb, vec3(2.2));
    float ks = is_shell == 1 ? 0.05 : a.a * 0.25;
    vec3 n = normalize(v_nrm);
    vec3 v = normalize(cam_pos - v_pos);
    vec3 fill = v_fill;
    if (dot(n, v) < 0.0 && is_shell == 1) { n = -n; fill = v_fill_back; }   // the inside of hair and skirts
    float nl = dot(n, key_dir);
    float wrap = 0.2;
    float diff = max((nl + wrap) / (1.0 + wrap), 0.0);
    float sh_key = nl > -0.2 ? shadow(v_pos, n) : 0.0;
    vec3 h = normalize(key_dir + v);
    float spec = ks * pow(max(dot(n, h), 0.0), 24.0) * 4.0 * max(nl, 0.0);
    vec3 fresnel_env = ks * 0.5 * v_env_spec / 3.14159;
    vec3 radiance = albedo * (fill + key_rgb * diff * sh_key) / 3.14159
                  + key_rgb * spec * sh_key / 3.14159 + fresnel_env;
    f_color = finish(radiance, 1.0);
}
"""
)

_BACKGROUND_VS = """
#version 330
in vec2 in_xy;
void main() { gl_Position = vec4(in_xy, 0.9999, 1.0); }
"""

# equirectangular environment lookup (longitude from the body's front, -Y; latitude from +Z)
_ENV_LOOKUP_FS = """
vec3 env_lookup(vec3 d) {
    float lon = atan(d.x, -d.y);
    float lat = asin(clamp(d.z, -1.0, 1.0));
    return texture(env_tex, vec2(lon / 6.2831853 + 0.5, 0.5 - lat / 3.14159265)).rgb;
}
"""

_BACKGROUND_FS = (
    """
#version 330
uniform sampler2D env_tex;
uniform mat3 Rt;        // camera-to-world rotation
uniform vec4 intr;
layout(location = 0) out vec4 f_color;
"""
    + _COMMON_FS
    + _ENV_LOOKUP_FS
    + """
void main() {
    vec2 p = gl_FragCoord.xy;
    vec3 d = normalize(Rt * vec3((p.x - intr.z) / intr.x, (p.y - intr.w) / intr.y, 1.0));
    f_color = finish(env_lookup(d), 0.0);
}
"""
)

_GROUND_FS = (
    """
#version 330
uniform sampler2D env_tex;
uniform vec3 ground_rgb;
uniform vec4 feet;       // xy of the two feet
uniform vec3 body_xyr;   // xy of the body centre, radius
in vec3 v_pos;
in vec3 v_nrm;
in vec2 v_uv;
layout(location = 0) out vec4 f_color;
"""
    + _COMMON_FS
    + _ENV_LOOKUP_FS
    + """
void main() {
    vec3 n = vec3(0.0, 0.0, 1.0);
    float d1 = length(v_pos.xy - feet.xy), d2 = length(v_pos.xy - feet.zw);
    float db = length(v_pos.xy - body_xyr.xy) / body_xyr.z;
    float ao = (1.0 - 0.55 * exp(-d1 * d1 / 0.012)) * (1.0 - 0.55 * exp(-d2 * d2 / 0.012)) * (1.0 - 0.3 * exp(-db * db));
    float sk = shadow(v_pos, n);
    vec3 radiance = ground_rgb * (irradiance(n) * ao + key_rgb * max(key_dir.z, 0.0) * sk) / 3.14159;
    vec3 ray = v_pos - cam_pos;
    float fog = 1.0 - exp(-length(ray) / 9.0);
    radiance = mix(radiance, env_lookup(normalize(ray)), fog);
    f_color = finish(radiance, 0.0);
}
"""
)

_AUX_FS = """
#version 330
uniform sampler2D tex;
uniform int is_shell;
uniform float layer_id;        // 1 body, 2 shell, 3 + k template mesh k
uniform mat3 R;
uniform vec3 t;
in vec3 v_pos;
in vec3 v_nrm;
in vec2 v_uv;
layout(location = 0) out vec4 f_aux;
void main() {
    if (is_shell == 1 && texture(tex, v_uv).a < 0.5) discard;
    f_aux = vec4(v_uv.x, 1.0 - v_uv.y, layer_id, (R * v_pos + t).z);
}
"""

# The person, drawn at ``ss`` times the size, is box-filtered and laid over the background here
# (premultiplied alpha), with the sensor noise on top of both.
_COMPOSITE_FS = """
#version 330
uniform sampler2D person;
uniform sampler2D backdrop;    // environment and floor, drawn at half the size (they are out of focus)
uniform vec2 size;
uniform int ss;
uniform float noise_sigma;     // in 8-bit steps
uniform float noise_seed;
layout(location = 0) out vec4 f_color;
float hash(vec2 p) {
    vec3 p3 = fract(vec3(p.xyx) * 0.1031 + noise_seed);
    p3 += dot(p3, p3.yzx + 33.33);
    return fract((p3.x + p3.y) * p3.z);
}
void main() {
    ivec2 base = ivec2(gl_FragCoord.xy) * ss;
    vec4 sum = vec4(0.0);
    for (int i = 0; i < ss; i++)
        for (int j = 0; j < ss; j++)
            sum += texelFetch(person, base + ivec2(i, j), 0);
    vec4 p = sum / float(ss * ss);
    vec3 b = texture(backdrop, gl_FragCoord.xy / size).rgb;
    float g = (hash(gl_FragCoord.xy) + hash(gl_FragCoord.yx + 17.0) - 1.0) * 1.7;
    f_color = vec4(p.rgb + (1.0 - p.a) * b + vec3(g * noise_sigma / 255.0), p.a);
}
"""

_SHADOW_VS = """
#version 330
uniform mat4 light_mat;
in vec3 in_pos;
in vec3 in_nrm;
in vec2 in_uv;
out vec2 v_uv;
void main() { gl_Position = light_mat * vec4(in_pos, 1.0); v_uv = in_uv; }
"""

_SHADOW_FS = """
#version 330
uniform sampler2D tex;
uniform int is_shell;
in vec2 v_uv;
void main() { if (is_shell == 1 && texture(tex, v_uv).a < 0.5) discard; }
"""


@dataclass
class SubjectMeshes:
    """What is drawn for one subject (world frame).

    Attributes:
        vertices: ``(V, 3)`` posed body vertices, metres.
        faces: ``(F, 3)`` int vertex indices, counter-clockwise seen from outside.
        uv_corners: ``(F, 3, 2)`` per-corner UVs (atlas convention, v up).
        albedo: ``(S, S, 4)`` uint8 body texture: sRGB albedo and, in alpha, specular strength.
        shell_vertices: ``(V, 3)`` posed shell vertices (same faces and UVs), or None.
        shell_rgba: ``(Ss, Ss, 4)`` uint8 shell texture: sRGB colour and coverage alpha, or None.
        shell_faces: ``(Fs,)`` indices of the faces drawn on the shell (those holding any coverage);
            None draws all.
        body_faces: ``(Fb,)`` indices of the body faces drawn (those no garment hides); None draws all.
        templates: worn template meshes, drawn like the shell: each has ``vertices (N, 3)``, ``faces
            (F, 3)``, ``uv_corners (F, 3, 2)`` (its own UV map, v up) and ``rgba (S, S, 4)`` uint8
            (sRGB colour and coverage), e.g. :class:`uvatar.data.wardrobe.WornPiece`.
    """

    vertices: np.ndarray
    faces: np.ndarray
    uv_corners: np.ndarray
    albedo: np.ndarray
    shell_vertices: np.ndarray | None = None
    shell_rgba: np.ndarray | None = None
    shell_faces: np.ndarray | None = None
    body_faces: np.ndarray | None = None
    templates: list = field(default_factory=list)


@dataclass
class RenderedView:
    """One rendered view.

    Attributes:
        bgr: ``(H, W, 3)`` uint8 image in OpenCV's BGR order (``rgb`` gives RGB).
        mask: ``(H, W)`` uint8 coverage of the person (body and shell), 0..255.
        aux: ``(H, W, 4)`` float32 ``(u, v, layer, depth)`` per pixel (layer 1 body, 2 shell, 3 + k
            template k of ``SubjectMeshes.templates`` in its own UV map, 0 none;
            depth = camera z in metres), or None when not asked for.
    """

    bgr: np.ndarray
    mask: np.ndarray
    aux: np.ndarray | None = None

    @property
    def rgb(self) -> np.ndarray:
        return np.ascontiguousarray(self.bgr[..., ::-1])


def camera_sharpen(image: np.ndarray, amount: float, radius: float) -> np.ndarray:
    """A camera's sharpening: the unsharp mask ``x + amount (x - G_radius * x)``, rounded and clipped.

    Args:
        image: ``(H, W, C)`` uint8.
        amount: gain of the detail above the Gaussian blur (0: the image unchanged).
        radius: the Gaussian's standard deviation in pixels.
    Returns:
        ``(H, W, C)`` uint8. The blur keeps the mean and the constant parts, so away from clipping the
        image's mean and its flat regions are unchanged; a step's overshoot grows with ``amount``.
    """
    if amount <= 0.0 or radius <= 0.0:
        return image
    import cv2

    x = image.astype(np.float32)
    blurred = cv2.GaussianBlur(x, (0, 0), float(radius), borderType=cv2.BORDER_REFLECT)
    return np.clip(np.rint(x + float(amount) * (x - blurred)), 0, 255).astype(np.uint8)


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    corners = vertices[faces]
    face_n = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_n)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


@dataclass
class _Topology:
    """Indexed drawing data: one GL vertex per distinct (mesh vertex, UV) pair."""

    vertex: np.ndarray  # (N,) mesh vertex of each GL vertex
    uv: np.ndarray  # (N, 2) GL texture coordinates (u, 1 - v)
    index: np.ndarray  # (F * 3,) uint32 GL vertex of each face corner

    @classmethod
    def build(cls, faces: np.ndarray, uv_corners: np.ndarray) -> "_Topology":
        keys = np.concatenate([faces.reshape(-1, 1).astype(np.float64), uv_corners.reshape(-1, 2).astype(np.float64)], 1)
        unique, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        uv = uv_corners.reshape(-1, 2)[first].astype(np.float32)
        uv[:, 1] = 1.0 - uv[:, 1]
        return cls(unique[:, 0].astype(np.int64), uv, inverse.reshape(-1).astype(np.uint32))


def corner_arrays(vertices: np.ndarray, faces: np.ndarray, uv_corners: np.ndarray, topology: "_Topology | None" = None) -> np.ndarray:
    """Interleaved GL vertex data ``(N, 8)`` float32: position, smooth normal, GL texcoord ``(u, 1 - v)``,
    one row per distinct (vertex, UV) pair of ``faces`` / ``uv_corners`` (see ``_Topology``)."""
    topology = topology or _Topology.build(faces, uv_corners)
    normals = _vertex_normals(vertices.astype(np.float64), faces).astype(np.float32)
    data = np.empty((len(topology.vertex), 8), np.float32)
    data[:, 0:3] = vertices[topology.vertex]
    data[:, 3:6] = normals[topology.vertex]
    data[:, 6:8] = topology.uv
    return data


def _vertex_array(ctx, prog, vbo, ibo=None):
    """A vertex array over interleaved (position, normal, texcoord) data; attributes the program's
    compiler dropped are skipped."""
    parts, names = [], []
    for name, size in (("in_pos", 3), ("in_nrm", 3), ("in_uv", 2)):
        if name in prog:
            parts.append(f"{size}f")
            names.append(name)
        else:
            parts.append(f"{4 * size}x")
    return ctx.vertex_array(prog, [(vbo, " ".join(parts), *names)], index_buffer=ibo, index_element_size=4)


def _write_mat3(uniform, matrix: np.ndarray) -> None:
    uniform.write(np.ascontiguousarray(np.asarray(matrix, np.float32).T).tobytes())  # GLSL is column-major


def _ortho_light(key_dir: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    """``(4, 4)`` world -> light clip matrix of an orthographic view along ``-key_dir`` covering a sphere."""
    z = -key_dir / np.linalg.norm(key_dir)  # light looks along -key_dir
    up = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.95 else np.array([0.0, 1.0, 0.0])
    x = np.cross(up, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    rot = np.stack([x, y, z])
    m = np.eye(4)
    m[:3, :3] = rot / radius
    m[:3, 3] = -rot @ centre / radius
    m[2] *= 0.5  # depth: [-2r, 2r] -> [-1, 1]
    return m


class SubjectRenderer:
    """Renders views of one subject at a time (see the module docstring).

    Args:
        width, height: image size in pixels.
        samples: MSAA samples (1 disables multisampling).
        shadow_size: side of the shadow map in texels.
    Raises:
        DependencyError: no EGL context can be created (see :mod:`uvatar.render._mesh_moderngl`).
    """

    def __init__(self, width: int, height: int, supersample: int = 2, shadow_size: int = 1024) -> None:
        if supersample not in (1, 2, 3, 4):
            raise InputError(f"supersample must be 1, 2, 3 or 4; got {supersample}")
        self._lock, self.ctx, self.mgl = shared_context()
        self.description = str(self.ctx.info.get("GL_RENDERER", "unknown"))
        self.width, self.height = int(width), int(height)
        self.ss = int(supersample)
        ctx = self.ctx
        with self._lock, ctx:
            self.surface = ctx.program(vertex_shader=_SURFACE_VS, fragment_shader=_SURFACE_FS)
            self.ground = ctx.program(vertex_shader=_SURFACE_VS, fragment_shader=_GROUND_FS)
            self.background = ctx.program(vertex_shader=_BACKGROUND_VS, fragment_shader=_BACKGROUND_FS)
            self.composite = ctx.program(vertex_shader=_BACKGROUND_VS, fragment_shader=_COMPOSITE_FS)
            self.aux = ctx.program(vertex_shader=_SURFACE_VS, fragment_shader=_AUX_FS)
            self.shadow_prog = ctx.program(vertex_shader=_SHADOW_VS, fragment_shader=_SHADOW_FS)
            size = (self.width, self.height)
            big = (self.width * self.ss, self.height * self.ss)
            self.person_tex = ctx.texture(big, 4)
            self.person_tex.filter = (self.mgl.NEAREST, self.mgl.NEAREST)
            self.person_depth = ctx.depth_renderbuffer(big)
            self.person_fbo = ctx.framebuffer([self.person_tex], self.person_depth)
            self.image_rb = ctx.renderbuffer(size, 4)
            self.image_fbo = ctx.framebuffer([self.image_rb])
            self.bg_size = (max(1, self.width // 2), max(1, self.height // 2))
            self.bg_tex = ctx.texture(self.bg_size, 4)
            self.bg_tex.filter = (self.mgl.LINEAR, self.mgl.LINEAR)
            self.bg_tex.repeat_x = self.bg_tex.repeat_y = False
            self.bg_fbo = ctx.framebuffer([self.bg_tex])
            self.aux_tex = ctx.texture(size, 4, dtype="f4")
            self.aux_depth = ctx.depth_renderbuffer(size)
            self.aux_fbo = ctx.framebuffer([self.aux_tex], self.aux_depth)
            self.shadow_size = int(shadow_size)
            self.shadow_tex = ctx.depth_texture((self.shadow_size, self.shadow_size))
            self.shadow_tex.compare_func = "<="
            self.shadow_tex.filter = (self.mgl.LINEAR, self.mgl.LINEAR)
            self.shadow_tex.repeat_x = self.shadow_tex.repeat_y = False
            self.shadow_fbo = ctx.framebuffer(depth_attachment=self.shadow_tex)
            quad = np.array([-1, -1, 3, -1, -1, 3], np.float32)
            self.bg_vbo = ctx.buffer(quad.tobytes())
            self.bg_vao = ctx.vertex_array(self.background, [(self.bg_vbo, "2f", "in_xy")])
            self.composite_vao = ctx.vertex_array(self.composite, [(self.bg_vbo, "2f", "in_xy")])
        self._objects: list = []
        self._subject = None
        self._topology: _Topology | None = None
        self._topology_key = None
        self._ibo = None
        self._bgr = np.empty((self.height, self.width, 4), np.uint8)

    # ------------------------------------------------------------------ subject
    def _release_subject(self) -> None:
        for obj in self._objects:
            obj.release()
        self._objects = []

    def set_subject(self, meshes: SubjectMeshes, lighting: Lighting) -> None:
        """Upload one subject and draw its shadow map (replaces the previous subject)."""
        faces = np.asarray(meshes.faces, np.int64)
        verts = np.asarray(meshes.vertices, np.float32)
        uvs = np.asarray(meshes.uv_corners, np.float32)
        if verts.ndim != 2 or verts.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
            raise InputError(f"SubjectMeshes: vertices must be (V, 3) and faces (F, 3); got {verts.shape} and {faces.shape}")
        if uvs.shape != (faces.shape[0], 3, 2):
            raise InputError(f"SubjectMeshes: uv_corners must be (F, 3, 2) with F={faces.shape[0]}; got {uvs.shape}")
        ctx, mgl = self.ctx, self.mgl
        if self._topology_key is None or not (
            self._topology_key[0].shape == faces.shape and np.array_equal(self._topology_key[0], faces)
            and np.array_equal(self._topology_key[1], uvs)
        ):
            self._topology = _Topology.build(faces, uvs)
            self._topology_key = (faces.copy(), uvs.copy())
            if self._ibo is not None:
                with self._lock, ctx:
                    self._ibo.release()
            self._ibo = None
        with self._lock, ctx:
            self._release_subject()
            if self._ibo is None:
                self._ibo = ctx.buffer(self._topology.index.tobytes())
            layers = []
            drawn = ((0, 1, verts, meshes.albedo, meshes.body_faces),
                     (1, 2, meshes.shell_vertices, meshes.shell_rgba, meshes.shell_faces))
            for is_shell, layer_id, v, texture, subset in drawn:
                if v is None or texture is None:
                    continue
                data = corner_arrays(np.asarray(v, np.float32), faces, uvs, self._topology)
                layer = self._upload_layer(data, self._topology.index, texture, subset, is_shell, layer_id)
                if layer is not None:
                    layers.append(layer)
            for k, mesh in enumerate(meshes.templates):
                t_faces = np.asarray(mesh.faces, np.int64)
                t_uvs = np.asarray(mesh.uv_corners, np.float32)
                topology = _Topology.build(t_faces, t_uvs)
                data = corner_arrays(np.asarray(mesh.vertices, np.float32), t_faces, t_uvs, topology)
                layer = self._upload_layer(data, topology.index, mesh.rgba, None, 1, 3 + k)
                if layer is not None:
                    layers.append(layer)
            env = np.ascontiguousarray(lighting.env, np.float32)
            env_tex = ctx.texture((env.shape[1], env.shape[0]), 3, env.tobytes(), dtype="f4")
            env_tex.filter = (mgl.LINEAR, mgl.LINEAR)
            env_tex.repeat_y = False
            self._objects.append(env_tex)
            # floor: a large quad under the lowest vertex
            worn = [np.asarray(m.vertices, np.float32) for m in meshes.templates]
            pts = np.concatenate([verts, *([] if meshes.shell_vertices is None else [meshes.shell_vertices]), *worn])
            standing = np.concatenate([verts, *worn])  # the floor under the feet or the shoes' soles
            lo, hi = pts.min(0), pts.max(0)
            centre = 0.5 * (lo + hi)
            radius = float(np.linalg.norm(hi - lo)) * 0.5 * 1.05
            ground_vao = None
            if lighting.ground_rgb is not None:
                z0, r = float(standing[:, 2].min()), 30.0
                quad = np.array(
                    [[-r, -r], [r, -r], [r, r], [-r, -r], [r, r], [-r, r]], np.float32
                ) + centre[None, :2].astype(np.float32)
                gdata = np.zeros((6, 8), np.float32)
                gdata[:, :2], gdata[:, 2], gdata[:, 5] = quad, z0, 1.0
                gvbo = ctx.buffer(gdata.tobytes())
                ground_vao = _vertex_array(ctx, self.ground, gvbo)
                self._objects += [gvbo, ground_vao]
            light_mat = _ortho_light(np.asarray(lighting.key_dir, np.float64), centre, max(radius, 0.3))
            light_bytes = np.ascontiguousarray(light_mat.T, np.float32).tobytes()
            # shadow map
            self.shadow_fbo.use()
            self.shadow_fbo.clear(depth=1.0)
            ctx.enable(mgl.DEPTH_TEST)
            ctx.disable(mgl.CULL_FACE)
            self.shadow_prog["light_mat"].write(light_bytes)
            for is_shell, _, tex, vaos, n in layers:
                tex.use(0)
                self.shadow_prog["tex"].value = 0
                self.shadow_prog["is_shell"].value = is_shell
                vaos["shadow"].render(mgl.TRIANGLES, vertices=n)
            # feet: the two lowest points left and right of the body's centre line
            low = verts[:, 2] < lo[2] + 0.06
            left = low & (verts[:, 0] > centre[0])
            right = low & (verts[:, 0] <= centre[0])
            foot_l = verts[left, :2].mean(0) if left.any() else centre[:2]
            foot_r = verts[right, :2].mean(0) if right.any() else centre[:2]
            self._subject = {
                "layers": layers,
                "env_tex": env_tex,
                "ground_vao": ground_vao,
                "light_bytes": light_bytes,
                "lighting": lighting,
                "centre": centre,
                "radius": radius,
                "feet": np.concatenate([foot_l, foot_r]).astype(np.float32),
                "body_xyr": (float(centre[0]), float(centre[1]), 0.35),
            }

    def _upload_layer(self, data: np.ndarray, index: np.ndarray, texture: np.ndarray, subset, is_shell: int, layer_id: int):
        """GL objects of one drawn layer: ``(is_shell, layer_id, texture, vertex arrays, index count)``, or
        None when ``subset`` (face indices; None: all) is empty. Call inside the context."""
        ctx, mgl = self.ctx, self.mgl
        texture = np.ascontiguousarray(texture, dtype=np.uint8)
        if texture.ndim != 3 or texture.shape[2] != 4:
            raise InputError(f"textures must be (S, S, 4) uint8; got {texture.shape}")
        chosen = index if subset is None else index.reshape(-1, 3)[np.asarray(subset, np.int64)].reshape(-1)
        if len(chosen) == 0:
            return None
        vbo = ctx.buffer(data.tobytes())
        if chosen is self._topology.index:
            ibo = self._ibo
        else:
            ibo = ctx.buffer(np.ascontiguousarray(chosen, np.uint32).tobytes())
            self._objects.append(ibo)
        tex = ctx.texture((texture.shape[1], texture.shape[0]), 4, texture.tobytes())
        tex.build_mipmaps()
        tex.filter = (mgl.LINEAR_MIPMAP_LINEAR, mgl.LINEAR)
        vaos = {
            name: _vertex_array(ctx, prog, vbo, ibo)
            for name, prog in (("surface", self.surface), ("aux", self.aux), ("shadow", self.shadow_prog))
        }
        self._objects += [vbo, tex, *vaos.values()]
        return is_shell, layer_id, tex, vaos, len(chosen)

    # ------------------------------------------------------------------ views
    def _set_common(self, prog, camera: Camera, look: dict) -> None:
        s = self._subject
        light: Lighting = s["lighting"]
        names = set(prog)  # uniforms the program actually uses
        values = {
            "exposure": float(look.get("exposure", 0.75)),
            "white_balance": tuple(float(c) for c in look.get("white_balance", (1.0, 1.0, 1.0))),
            "vignette": float(look.get("vignette", 0.1)),
            "size": (float(camera.width), float(camera.height)),
            "key_dir": tuple(float(c) for c in light.key_dir),
            "key_rgb": tuple(float(c) for c in light.key_rgb),
            "cam_pos": tuple(float(c) for c in camera.center.tolist()),
            "shadow_radius": float(light.shadow_softness),
            "shadow_texel": 1.0 / self.shadow_size,
        }
        values["shade_vertices"] = 1 if prog is self.surface else 0
        for key, value in values.items():
            if key in names:
                prog[key].value = value
        if "sh" in names:
            n_sh = prog["sh"].array_length  # the compiler may drop trailing coefficients a shader never reads
            prog["sh"].write(np.ascontiguousarray(light.sh[:n_sh], np.float32).tobytes())
        if "light_mat" in names:
            prog["light_mat"].write(s["light_bytes"])
        if "shadow_tex" in names:
            self.shadow_tex.use(1)
            prog["shadow_tex"].value = 1
        if "env_tex" in names:
            s["env_tex"].use(2)
            prog["env_tex"].value = 2

    def _set_camera(self, prog, camera: Camera, near: float, far: float) -> None:
        names = set(prog)
        K = camera.K.numpy()
        if "R" in names:
            _write_mat3(prog["R"], camera.R.numpy())
        if "t" in names:
            prog["t"].value = tuple(float(c) for c in camera.t.tolist())
        if "Rt" in names:
            _write_mat3(prog["Rt"], camera.R.numpy().T)
        if "intr" in names:
            prog["intr"].value = (float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]))
        if "size" in names:
            prog["size"].value = (float(camera.width), float(camera.height))
        if "depth_ab" in names:
            prog["depth_ab"].value = depth_mapping(near, far)

    def render(self, camera: Camera, look: dict | None = None, aux: bool = False) -> RenderedView:
        """Render the current subject from ``camera``.

        Args:
            camera: the view; its size must be the renderer's.
            look: per-view image settings: ``exposure`` (before the filmic curve, ~0.75), ``white_balance``
                (RGB gains), ``noise_sigma`` (8-bit steps, the sharpened image's noise), ``noise_seed``,
                ``vignette`` (0..0.3), ``sharpen`` (unsharp-mask gain, 0 none) and ``sharpen_radius``
                (pixels) of :func:`camera_sharpen`.
            aux: also run the ``(u, v, layer, depth)`` pass.
        Returns:
            :class:`RenderedView`.
        """
        if self._subject is None:
            raise InputError("SubjectRenderer.render: call set_subject first")
        if (camera.width, camera.height) != (self.width, self.height):
            raise InputError(f"camera is {camera.width}x{camera.height} but the renderer is {self.width}x{self.height}")
        look = look or {}
        s = self._subject
        ctx, mgl = self.ctx, self.mgl
        distance = float(np.linalg.norm(camera.center.numpy() - s["centre"]))
        near = max(0.02, distance - 1.5 * s["radius"]) * 0.5
        far = distance + 60.0
        big = camera.resized(self.width * self.ss, self.height * self.ss)
        with self._lock, ctx:
            # 1. the person at ss x ss the size (supersampled anti-aliasing; llvmpipe's MSAA is slower)
            self.person_fbo.use()
            self.person_fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
            ctx.enable(mgl.DEPTH_TEST)
            ctx.depth_func = "<"
            ctx.disable(mgl.BLEND)
            self._draw_layers(self.surface, "surface", big, look, near, far)
            # 2. the environment and the floor at half the size (out of focus anyway)
            half = camera.resized(*self.bg_size)
            self.bg_fbo.use()
            ctx.disable(mgl.DEPTH_TEST)
            ctx.disable(mgl.CULL_FACE)
            self._set_common(self.background, half, look)
            self._set_camera(self.background, half, near, far)
            self.bg_vao.render(mgl.TRIANGLES, vertices=3)
            if s["ground_vao"] is not None:
                prog = self.ground
                self._set_common(prog, half, look)
                self._set_camera(prog, half, near, far)
                prog["ground_rgb"].value = tuple(float(c) for c in s["lighting"].ground_rgb)
                prog["feet"].value = tuple(float(c) for c in s["feet"])
                prog["body_xyr"].value = s["body_xyr"]
                s["ground_vao"].render(mgl.TRIANGLES, vertices=6)
            # 3. box-filter the person down and lay it over the backdrop (premultiplied; alpha = coverage)
            self.image_fbo.use()
            self.person_tex.use(0)
            self.bg_tex.use(3)
            comp = self.composite
            comp["person"].value = 0
            comp["backdrop"].value = 3
            comp["size"].value = (float(self.width), float(self.height))
            comp["ss"].value = self.ss
            # the noise goes in before the sharpening, which raises white noise's level by about 1 + amount
            sharpen = float(look.get("sharpen", 0.0))
            comp["noise_sigma"].value = float(look.get("noise_sigma", 1.5)) / (1.0 + max(sharpen, 0.0))
            comp["noise_seed"].value = float(look.get("noise_seed", 0.0))
            self.composite_vao.render(mgl.TRIANGLES, vertices=3)
            self.image_fbo.read_into(self._bgr, components=4, alignment=1)
            bgr = camera_sharpen(self._bgr[..., :3], sharpen, float(look.get("sharpen_radius", 0.0))).copy()
            mask = self._bgr[..., 3].copy()
            aux_out = None
            if aux:
                self.aux_fbo.use()
                self.aux_fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
                ctx.enable(mgl.DEPTH_TEST)
                self._draw_layers(self.aux, "aux", camera, look, near, far)
                aux_out = np.empty((self.height, self.width, 4), np.float32)
                self.aux_tex.read_into(aux_out)
            ctx.disable(mgl.CULL_FACE)
        return RenderedView(bgr, mask, aux_out)

    def _draw_layers(self, prog, vao_name: str, camera: Camera, look: dict, near: float, far: float) -> None:
        """Draw the body (back faces culled), the shell and the templates (both sides) with ``prog``."""
        ctx, mgl = self.ctx, self.mgl
        self._set_common(prog, camera, look)
        self._set_camera(prog, camera, near, far)
        for is_shell, layer_id, tex, vaos, n in self._subject["layers"]:
            if is_shell:
                ctx.disable(mgl.CULL_FACE)
            else:
                ctx.enable(mgl.CULL_FACE)
                ctx.front_face = "cw"  # the y-down projection mirrors the winding
                ctx.cull_face = "back"
            tex.use(0)
            prog["tex"].value = 0
            prog["is_shell"].value = is_shell
            if "layer_id" in prog:
                prog["layer_id"].value = float(layer_id)
            vaos[vao_name].render(mgl.TRIANGLES, vertices=n)

    def release(self) -> None:
        """Free the GL objects of this renderer (the context stays)."""
        with self._lock, self.ctx:
            self._release_subject()
            for obj in (self.surface, self.ground, self.background, self.composite, self.aux, self.shadow_prog,
                        self.person_tex, self.person_depth, self.person_fbo, self.image_rb, self.image_fbo,
                        self.bg_tex, self.bg_fbo,
                        self.aux_tex, self.aux_depth, self.aux_fbo, self.shadow_tex, self.shadow_fbo, self.bg_vbo,
                        self.bg_vao, self.composite_vao, *([self._ibo] if self._ibo is not None else [])):
                obj.release()


def albedo_reference(meshes: SubjectMeshes, camera: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plain reference of the body layer: UV, albedo and coverage per pixel, through the torch rasterizer.

    Returns:
        uv ``(H, W, 2)`` float32, albedo ``(H, W, 3)`` float32 sRGB in [0, 1] (bilinear, no mipmaps) and
        covered ``(H, W)`` bool, for the body mesh alone (no shell).
    """
    from uvatar.render.mesh import interpolate, rasterize_mesh, sample_texture

    with torch.no_grad():
        raster = rasterize_mesh(torch.as_tensor(meshes.vertices, dtype=torch.float32), torch.as_tensor(meshes.faces),
                                camera, backend="torch")
        uv = interpolate(torch.as_tensor(meshes.uv_corners, dtype=torch.float32), raster)
        albedo = sample_texture(torch.as_tensor(np.ascontiguousarray(meshes.albedo[..., :3])), uv)
    return uv.numpy(), albedo.numpy(), raster.mask.numpy()
