// UVatar web player: plays an avatar (Gaussians bound to Anny's skeleton) with a motion, skinning every
// Gaussian on the GPU through Spark's SplatSkinning (linear blend skinning, 4 bones per Gaussian).
//
// The data comes from avatar.js, loaded by index.html before this bundle as a plain <script> (so the page
// works from file://): window.UVATAR_WEB = {format, avatar: {header..., data}, motions: [...], ...}.
// Formats: uvatar/export/web_encoding.py (uvatar.web.gaussians/1, uvatar.web.motion/1).
//
// window.uvatar is the page's small API (used by the tests and handy in the console):
//   ready (Promise of info), info, play(), pause(), setMotion(name), setFrame(f), setBackground([r,g,b]), setGui(bool),
//   setCamera({eye, target, up, fovDeg}) in Anny's body space (metres, Z up), measureFps(ms), frames(n).

import * as THREE from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import { ExtSplats, SparkRenderer, SplatMesh, SplatSkinning, SplatSkinningMode, utils } from "@sparkjsdev/spark";

const DATA_FORMAT = "uvatar.web/1";
const GAUSSIANS_FORMAT = "uvatar.web.gaussians/1";
const MOTION_FORMAT = "uvatar.web.motion/1";
const BYTES_PER_GAUSSIAN = 25;
const SPLAT_TEX_WIDTH = 2048;
const SPLAT_TEX_HEIGHT = 2048;

const $ = (id) => document.getElementById(id);

class PlayerError extends Error {}

function showError(message) {
  const box = $("error");
  if (box) {
    box.textContent = message;
    box.hidden = false;
  }
  const status = $("status");
  if (status) status.textContent = "not playing";
  window.uvatarError = message;
}

function base64Bytes(text, what) {
  let binary;
  try {
    binary = atob(text);
  } catch (err) {
    throw new PlayerError(`${what} is not valid base64 (the file is damaged)`);
  }
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

async function gunzip(bytes, what) {
  try {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (err) {
    throw new PlayerError(`${what} does not decompress (${err.message || err}); the file is truncated or damaged`);
  }
}

function need(condition, message) {
  if (!condition) throw new PlayerError(message);
}

function isFiniteArray(a, n) {
  return Array.isArray(a) && a.length === n && a.every((x) => typeof x === "number" && Number.isFinite(x));
}

// ------------------------------------------------------------------ decoding
async function decodeGaussians(avatar) {
  need(avatar && avatar.format === GAUSSIANS_FORMAT, `avatar data is not ${GAUSSIANS_FORMAT}`);
  const n = avatar.count;
  need(Number.isInteger(n) && n > 0 && n <= 16777216, `avatar data has an impossible Gaussian count (${n})`);
  need(Array.isArray(avatar.bounds) && isFiniteArray(avatar.bounds[0], 3) && isFiniteArray(avatar.bounds[1], 3), "avatar data lacks finite bounds");
  need(isFiniteArray(avatar.log_scale, 2), "avatar data lacks a finite log-scale range");
  need(typeof avatar.data === "string", "avatar data lacks its Gaussians");
  const raw = await gunzip(base64Bytes(avatar.data, "the avatar's Gaussians"), "the avatar's Gaussians");
  need(raw.length === n * BYTES_PER_GAUSSIAN, `the avatar's Gaussians hold ${raw.length} bytes where ${n} Gaussians need ${n * BYTES_PER_GAUSSIAN}; the file is truncated or damaged`);
  const buffer = raw.buffer;
  let offset = raw.byteOffset;
  const take = (Type, count) => {
    const array = new Type(buffer.slice(offset, offset + count * Type.BYTES_PER_ELEMENT));
    offset += count * Type.BYTES_PER_ELEMENT;
    return array;
  };
  return {
    count: n,
    position: take(Uint16Array, 3 * n),
    rotation: take(Int8Array, 4 * n),
    logScale: take(Uint8Array, 3 * n),
    rgba: take(Uint8Array, 4 * n),
    bones: take(Uint8Array, 4 * n),
    weights: take(Uint8Array, 4 * n),
    bounds: avatar.bounds,
    logRange: avatar.log_scale,
  };
}

function maxSplatsFor(n) {
  const height = Math.max(1, Math.min(SPLAT_TEX_HEIGHT, Math.ceil(n / SPLAT_TEX_WIDTH)));
  const depth = Math.ceil(n / (SPLAT_TEX_WIDTH * height));
  return SPLAT_TEX_WIDTH * height * depth;
}

function buildSplats(g) {
  const n = g.count;
  const size = maxSplatsFor(n);
  const arrays = [new Uint32Array(size * 4), new Uint32Array(size * 4)];
  const [lo, hi] = g.bounds;
  const sx = (hi[0] - lo[0]) / 65535, sy = (hi[1] - lo[1]) / 65535, sz = (hi[2] - lo[2]) / 65535;
  const [l0, l1] = g.logRange;
  const ls = (l1 - l0) / 255;
  const p = g.position, r = g.rotation, s = g.logScale, c = g.rgba;
  for (let i = 0; i < n; i++) {
    let qx = r[i] / 127, qy = r[n + i] / 127, qz = r[2 * n + i] / 127, qw = r[3 * n + i] / 127;
    const norm = Math.hypot(qx, qy, qz, qw) || 1;
    qx /= norm; qy /= norm; qz /= norm; qw /= norm;
    utils.encodeExtSplat(
      arrays, i,
      lo[0] + p[i] * sx, lo[1] + p[n + i] * sy, lo[2] + p[2 * n + i] * sz,
      Math.exp(l0 + s[i] * ls), Math.exp(l0 + s[n + i] * ls), Math.exp(l0 + s[2 * n + i] * ls),
      qx, qy, qz, qw,
      c[3 * n + i] / 255, c[i] / 255, c[n + i] / 255, c[2 * n + i] / 255,
    );
  }
  return new ExtSplats({ extArrays: arrays, numSplats: n });
}

async function decodeMotion(motion, bones) {
  need(motion && motion.format === MOTION_FORMAT, `motion ${motion && motion.name} is not ${MOTION_FORMAT}`);
  const name = String(motion.name);
  const frames = motion.frames;
  need(Number.isInteger(frames) && frames > 0 && frames <= 36000, `motion ${name} has an impossible frame count (${frames})`);
  need(motion.bones === bones, `motion ${name} is for ${motion.bones} bones, the avatar has ${bones}`);
  need(typeof motion.fps === "number" && motion.fps >= 0.01 && motion.fps <= 1000, `motion ${name} has an impossible frame rate (${motion.fps})`);
  const tb = motion.translation_bounds;
  need(Array.isArray(tb) && isFiniteArray(tb[0], 3) && isFiniteArray(tb[1], 3), `motion ${name} lacks finite translation bounds`);
  const raw = await gunzip(base64Bytes(motion.data, `motion ${name}`), `motion ${name}`);
  need(raw.length === frames * bones * 24, `motion ${name} holds ${raw.length} bytes where ${frames} frames of ${bones} bones need ${frames * bones * 24}; the file is truncated or damaged`);
  const q = new Int16Array(raw.buffer, raw.byteOffset, frames * bones * 12);
  // planes (J, 12, T) -> per frame, per bone: 12 floats (column-major 3x4)
  const out = new Float32Array(frames * bones * 12);
  for (let j = 0; j < bones; j++) {
    for (let e = 0; e < 12; e++) {
      const base = (j * 12 + e) * frames;
      for (let t = 0; t < frames; t++) {
        let v = q[base + t];
        if (e < 9) v = v / 32767;
        else {
          const a = e - 9;
          v = ((v + 32768) / 65535) * (tb[1][a] - tb[0][a]) + tb[0][a];
        }
        out[(t * bones + j) * 12 + e] = v;
      }
    }
  }
  return { name, fps: motion.fps, frames, loop: motion.loop !== false, matrices: out };
}

// ------------------------------------------------------------------ the player
class Player {
  constructor(data, gaussians, splats, motions, timing) {
    this.data = data;
    this.motions = motions;
    this.bones = data.bones;
    this.timing = timing;
    this.playing = true;
    this.time = 0;
    this.motion = motions.find((m) => m.name === data.start_motion) || motions[0];
    this.fpsFrames = [];

    const canvas = $("view");
    this.renderer = new THREE.WebGLRenderer({ canvas, antialias: false, preserveDrawingBuffer: true });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    this.renderer.setSize(window.innerWidth, window.innerHeight, false);
    this.scene = new THREE.Scene();
    this.background = new THREE.Color();
    this.setBackground(data.background || [0.12, 0.13, 0.15]);
    this.scene.background = this.background;
    // 3DGS blending rules, as UVatar's CPU renderer: 0.3 px^2 blur without opacity compensation
    this.spark = new SparkRenderer({ renderer: this.renderer, covSplats: true, accumExtSplats: true, preBlurAmount: 0.3, blurAmount: 0.0 });
    this.scene.add(this.spark);

    this.mesh = new SplatMesh({ extSplats: splats, covSplats: true });
    const skinning = new SplatSkinning({ mesh: this.mesh, numSplats: gaussians.count, numBones: this.bones, mode: SplatSkinningMode.LINEAR_BLEND });
    const skin = skinning.skinData, n = gaussians.count, b = gaussians.bones, w = gaussians.weights;
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < 4; k++) skin[4 * i + k] = w[k * n + i] | (b[k * n + i] << 8);
    }
    skinning.skinTexture.needsUpdate = true;
    this.skinning = skinning;
    this.mesh.skinning = skinning;
    this.mesh.updateGenerator();
    // Anny's body space is Z up, facing -Y; three.js is Y up: (x, y, z) -> (x, z, -y)
    this.mesh.quaternion.setFromAxisAngle(new THREE.Vector3(1, 0, 0), -Math.PI / 2);
    this.scene.add(this.mesh);

    const [lo, hi] = data.avatar.bounds;
    const centre = new THREE.Vector3((lo[0] + hi[0]) / 2, (lo[2] + hi[2]) / 2, -(lo[1] + hi[1]) / 2);
    const extent = Math.max(hi[0] - lo[0], hi[2] - lo[2], 0.2);
    this.camera = new THREE.PerspectiveCamera(35, window.innerWidth / window.innerHeight, 0.01, 100);
    this.camera.position.set(centre.x, centre.y, centre.z + 0.9 * extent / Math.tan(THREE.MathUtils.degToRad(35 / 2)));
    this.controls = new OrbitControls(this.camera, canvas);
    this.controls.target.copy(centre);
    this.controls.enableDamping = true;
    this.controls.update();

    this.buildGui();
    window.addEventListener("resize", () => this.resize());
    this.applyFrame();
    this.last = performance.now();
    this.firstDrawnMs = null;
    this.renderer.setAnimationLoop((now) => this.tick(now));
  }

  buildGui() {
    const select = $("motion");
    for (const m of this.motions) {
      const option = document.createElement("option");
      option.value = option.textContent = m.name;
      select.appendChild(option);
    }
    select.value = this.motion.name;
    select.addEventListener("change", () => this.setMotion(select.value));
    $("play").addEventListener("click", () => (this.playing ? this.pause() : this.play()));
    const slider = $("frame");
    slider.addEventListener("input", () => {
      this.pause();
      this.setFrame(Number(slider.value));
    });
    $("count").textContent = `${this.data.avatar.count.toLocaleString()} Gaussians`;
    $("panel").hidden = false;
    this.syncGui();
  }

  syncGui() {
    $("play").textContent = this.playing ? "Pause" : "Play";
    const slider = $("frame");
    slider.max = String(this.motion.frames - 1);
    slider.value = String(this.frameIndex());
  }

  frameIndex() {
    return Math.floor(this.time * this.motion.fps + 1e-6) % this.motion.frames;
  }

  // Bone matrices of the current time (linear interpolation between motion frames) into Spark's texture.
  applyFrame() {
    const m = this.motion, J = this.bones;
    const f = this.time * m.fps;
    let f0 = Math.floor(f + 1e-6);
    let a = Math.min(Math.max(f - f0, 0), 1);
    f0 %= m.frames;
    let f1 = f0 + 1;
    if (f1 >= m.frames) f1 = m.loop ? 0 : f0;
    if (!this.playing) a = 0;
    const src = m.matrices, dst = this.skinning.boneData;
    for (let j = 0; j < J; j++) {
      const i0 = (f0 * J + j) * 12, i1 = (f1 * J + j) * 12, o = j * 16;
      for (let e = 0; e < 12; e++) dst[o + e] = src[i0 + e] + a * (src[i1 + e] - src[i0 + e]);
    }
    this.skinning.updateBones();
  }

  tick(now) {
    const dt = Math.min((now - this.last) / 1000, 0.25);
    this.last = now;
    if (this.playing) {
      this.time += dt;
      const duration = this.motion.frames / this.motion.fps;
      if (this.time >= duration) this.time = this.motion.loop ? this.time % duration : duration - 1e-6;
      this.applyFrame();
      $("frame").value = String(this.frameIndex());
    }
    this.controls.update();
    this.renderer.render(this.scene, this.camera);
    this.fpsFrames.push(now);
    while (this.fpsFrames.length && now - this.fpsFrames[0] > 1000) this.fpsFrames.shift();
    if (this.firstDrawnMs === null && this.spark.activeSplats > 0) {
      this.firstDrawnMs = performance.now();
      this.timing.firstFrameMs = this.firstDrawnMs;
      if (this.resolveDrawn) this.resolveDrawn();
    }
    if (!this.gui || now - this.gui > 500) {
      this.gui = now;
      $("status").textContent = `${this.motion.name} · frame ${this.frameIndex() + 1}/${this.motion.frames} · ${this.fpsFrames.length} fps`;
    }
  }

  resize() {
    this.camera.aspect = window.innerWidth / window.innerHeight;
    this.camera.updateProjectionMatrix();
    this.renderer.setSize(window.innerWidth, window.innerHeight, false);
  }

  play() { this.playing = true; this.syncGui(); }
  pause() {
    this.playing = false;
    this.time = this.frameIndex() / this.motion.fps;
    this.applyFrame();
    this.syncGui();
  }
  setMotion(name) {
    const m = this.motions.find((x) => x.name === name);
    if (!m) throw new Error(`no motion ${name}; the page has ${this.motions.map((x) => x.name).join(", ")}`);
    this.motion = m;
    this.time = 0;
    $("motion").value = name;
    this.applyFrame();
    this.syncGui();
  }
  setFrame(index) {
    const f = ((Math.floor(index) % this.motion.frames) + this.motion.frames) % this.motion.frames;
    this.time = f / this.motion.fps;
    this.applyFrame();
    this.syncGui();
  }
  // sRGB in [0, 1], as the Gaussians' colours
  setBackground(rgb) { this.background.setRGB(rgb[0], rgb[1], rgb[2], THREE.SRGBColorSpace); }
  setGui(visible) {
    $("panel").hidden = !visible;
  }
  // A camera in Anny's body space (metres, Z up): eye, target, up, vertical field of view in degrees.
  setCamera({ eye, target, up = [0, 0, 1], fovDeg }) {
    const toThree = (v) => new THREE.Vector3(v[0], v[2], -v[1]);
    this.camera.up.copy(toThree(up));
    this.camera.position.copy(toThree(eye));
    if (fovDeg) this.camera.fov = fovDeg;
    this.camera.updateProjectionMatrix();
    this.controls.target.copy(toThree(target));
    this.controls.enableDamping = false;
    this.controls.update();
    this.camera.lookAt(toThree(target));
  }
  frames(n) {
    return new Promise((resolve) => {
      let left = n;
      const step = () => (--left <= 0 ? resolve() : requestAnimationFrame(step));
      requestAnimationFrame(step);
    });
  }
  async measureFps(ms = 3000) {
    const start = performance.now();
    let count = 0;
    await new Promise((resolve) => {
      const step = (now) => {
        count++;
        if (now - start >= ms) resolve();
        else requestAnimationFrame(step);
      };
      requestAnimationFrame(step);
    });
    const seconds = (performance.now() - start) / 1000;
    return { fps: count / seconds, frames: count, seconds };
  }
}

async function start() {
  const timing = { startMs: window.UVATAR_PAGE_START ?? 0, dataParsedMs: window.UVATAR_DATA_PARSED ?? null };
  const data = window.UVATAR_WEB;
  if (!data) {
    throw new PlayerError("The avatar data (avatar.js) did not load: it is missing, truncated or damaged. Export the avatar again with 'uvatar export AVATAR -f web -o DIR'.");
  }
  need(data.format === DATA_FORMAT, `avatar.js is ${JSON.stringify(data.format)}, not ${DATA_FORMAT}; export the avatar again with this UVatar`);
  need(Number.isInteger(data.bones) && data.bones > 0 && data.bones <= 256, `avatar.js names an impossible bone count (${data.bones})`);
  need(Array.isArray(data.motions) && data.motions.length > 0, "avatar.js holds no motion");
  const gaussians = await decodeGaussians(data.avatar);
  const motions = [];
  for (const m of data.motions) motions.push(await decodeMotion(m, data.bones));
  timing.decodedMs = performance.now();
  const splats = buildSplats(gaussians);
  timing.builtMs = performance.now();
  const player = new Player(data, gaussians, splats, motions, timing);
  await new Promise((resolve) => {
    player.resolveDrawn = resolve;
    if (player.firstDrawnMs !== null) resolve();
  });
  return player;
}

const api = {};
api.ready = start().then(
  (player) => {
    Object.assign(api, {
      player,
      info: {
        gaussians: player.data.avatar.count,
        motions: player.motions.map((m) => m.name),
        timing: player.timing,
        loadMs: player.timing.firstFrameMs,
        webgl: player.renderer.getContext().getParameter(player.renderer.getContext().VERSION),
      },
      play: () => player.play(),
      pause: () => player.pause(),
      setMotion: (name) => player.setMotion(name),
      setFrame: (f) => player.setFrame(f),
      setBackground: (rgb) => player.setBackground(rgb),
      setGui: (visible) => player.setGui(visible),
      setCamera: (c) => player.setCamera(c),
      frames: (n) => player.frames(n),
      measureFps: (ms) => player.measureFps(ms),
    });
    return api.info;
  },
  (err) => {
    const message = err instanceof PlayerError ? err.message : `The player failed: ${err && err.message ? err.message : err}`;
    showError(message);
    throw new Error(message);
  },
);
window.uvatar = api;
