"""Procedural rendering of face-like expression clips for the synthetic benchmark.

A clip is drawn in normalised face coordinates (u right, v down, both in [-1, 1]): a face ellipse,
hair, two eyes with pupils, two brows, a nose shadow and a mouth. Seven *action parameters* move
per frame (``ACTIONS``); an expression is a trajectory of them from neutral to an apex and back.
A *camera style* then degrades the frames: pose, lighting, colour, blur, noise, low resolution,
frame rate, dropped frames and occlusion. Everything is vectorised over (T, H, W).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

#: Per-frame action parameters (neutral value of each is given by the subject).
ACTIONS = ("mouth_curve", "mouth_open", "mouth_width", "brow_raise", "brow_tilt", "eye_open", "nose_wrinkle")


@dataclass(frozen=True)
class Subject:
    """A synthetic person: face geometry, colours, resting expression, expressivity and timing."""

    face_w: float
    face_h: float
    eye_dx: float
    eye_y: float
    eye_w: float
    eye_h: float
    mouth_y: float
    mouth_w: float
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    resting: np.ndarray  # offsets added to the neutral action values, shape (len(ACTIONS),)
    expressivity: float
    tempo: float

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "Subject":
        """Return a random subject drawn from ``rng``."""
        tone = rng.uniform(0.25, 0.95)
        skin = (0.35 + 0.6 * tone, 0.25 + 0.5 * tone, 0.18 + 0.42 * tone)
        shade = rng.uniform(0.02, 0.5) * rng.uniform(0.6, 1.0, 3)
        hair = (float(shade[0]), float(shade[1]), float(shade[2]))
        resting = np.zeros(len(ACTIONS))
        resting[[0, 4]] = rng.normal(0.0, [0.05, 0.12])
        return cls(
            face_w=rng.uniform(0.55, 0.7),
            face_h=rng.uniform(0.72, 0.88),
            eye_dx=rng.uniform(0.2, 0.28),
            eye_y=rng.uniform(-0.22, -0.12),
            eye_w=rng.uniform(0.1, 0.13),
            eye_h=rng.uniform(0.05, 0.07),
            mouth_y=rng.uniform(0.35, 0.48),
            mouth_w=rng.uniform(0.26, 0.34),
            skin=skin,
            hair=hair,
            resting=resting,
            expressivity=float(rng.lognormal(0.0, 0.3)),
            tempo=rng.uniform(0.7, 1.4),
        )


@dataclass(frozen=True)
class CameraStyle:
    """How one source degrades the frames (all severities scale with ``heterogeneity``)."""

    brightness: float = 1.0
    contrast: float = 1.0
    cast: tuple[float, float, float] = (1.0, 1.0, 1.0)
    gradient: float = 0.05
    blur: float = 0.0
    noise: float = 0.01
    fps: float = 1.0
    drop: float = 0.0
    pose: float = 0.3
    occlusion: float = 0.0
    gray: float = 0.0
    downsample: int = 1

    def scaled(self, heterogeneity: float) -> "CameraStyle":
        """Return this style moved towards the clean studio style (0) or left as is (1)."""
        base, h = CameraStyle(), heterogeneity

        def mix(a, b):
            return tuple(mix(x, y) for x, y in zip(a, b)) if isinstance(a, tuple) else b + h * (a - b)

        return CameraStyle(
            **{f: mix(getattr(self, f), getattr(base, f)) for f in self.__dataclass_fields__ if f != "downsample"},
            downsample=self.downsample if h >= 0.5 else 1,
        )


#: The camera styles ("sources") in order; a dataset with n sources uses the first n.
SOURCES: dict[str, CameraStyle] = {
    "studio": CameraStyle(),
    "webcam": CameraStyle(
        brightness=0.9,
        contrast=0.9,
        cast=(1.08, 1.0, 0.82),
        gradient=0.15,
        blur=0.6,
        noise=0.05,
        fps=0.5,
        drop=0.05,
        pose=0.6,
        occlusion=0.1,
    ),
    "cctv": CameraStyle(
        brightness=0.7,
        contrast=0.75,
        cast=(0.92, 1.0, 0.92),
        gradient=0.1,
        blur=0.8,
        noise=0.06,
        fps=0.35,
        drop=0.2,
        pose=0.8,
        occlusion=0.1,
        gray=0.8,
    ),
    "mobile": CameraStyle(
        brightness=1.05,
        contrast=1.1,
        cast=(0.9, 0.97, 1.1),
        gradient=0.3,
        blur=0.3,
        noise=0.03,
        fps=0.8,
        drop=0.05,
        pose=1.6,
        occlusion=0.35,
    ),
    "movie": CameraStyle(
        brightness=0.85,
        contrast=1.3,
        cast=(1.05, 0.95, 0.88),
        gradient=0.5,
        blur=0.2,
        noise=0.02,
        pose=1.0,
        occlusion=0.15,
        gray=0.2,
    ),
    "lowres": CameraStyle(brightness=0.95, gradient=0.1, noise=0.03, fps=0.7, drop=0.1, pose=0.5, downsample=2),
}


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def expression_trajectory(
    apex: np.ndarray, amplitude: float, onset: float, rise: float, hold: float, fall: float, times: np.ndarray
) -> np.ndarray:
    """Return action offsets (len(times), len(ACTIONS)): neutral → ``apex`` × ``amplitude`` → neutral."""
    up = _smoothstep((times - onset) / rise)
    down = 1.0 - _smoothstep((times - onset - rise - hold) / fall)
    return (amplitude * up * down)[:, None] * apex[None, :]


def _soft(distance: np.ndarray, edge: float) -> np.ndarray:
    """Anti-aliased inside-mask of a shape whose signed distance is ``distance`` (< 0 inside)."""
    return np.clip(0.5 - distance / edge, 0.0, 1.0)


def _paint(img: np.ndarray, mask: np.ndarray, colour) -> None:
    img += mask[..., None] * (np.asarray(colour, dtype=np.float32) - img)


def render_frames(
    actions: np.ndarray, subject: Subject, pose: np.ndarray, size: int, background: np.ndarray
) -> np.ndarray:
    """Return float32 frames (T, size, size, 3) in [0, 1] of ``subject`` performing ``actions``.

    ``actions`` is (T, len(ACTIONS)) absolute action values; ``pose`` is (T, 4): roll angle in
    radians, horizontal and vertical shift, scale; ``background`` an RGB colour.
    """
    t = actions.shape[0]
    axis = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    grid_v, grid_u = np.meshgrid(axis, axis, indexing="ij")
    roll, dx, dy, scale = (pose[:, i, None, None].astype(np.float32) for i in range(4))
    cu, cv = grid_u[None] - dx, grid_v[None] - dy
    u = (np.cos(roll) * cu + np.sin(roll) * cv) / scale
    v = (-np.sin(roll) * cu + np.cos(roll) * cv) / scale
    edge = 3.0 / size
    a = {name: actions[:, i, None, None].astype(np.float32) for i, name in enumerate(ACTIONS)}
    s = subject

    img = np.empty((t, size, size, 3), dtype=np.float32)
    img[...] = background
    radius = np.sqrt((u / s.face_w) ** 2 + (v / s.face_h) ** 2)
    _paint(img, _soft((radius - 1.0) * s.face_w, edge), s.skin)
    hair = _soft((radius - 1.0) * s.face_w, edge) * _soft(v + s.face_h * 0.62, edge)
    _paint(img, hair, s.hair)

    for side in (-1.0, 1.0):
        eu, ev = u - side * s.eye_dx, v - s.eye_y
        eye_h = s.eye_h * np.maximum(a["eye_open"], 0.05)
        eye = np.sqrt((eu / s.eye_w) ** 2 + (ev / eye_h) ** 2)
        _paint(img, _soft((eye - 1.0) * eye_h, edge), (0.95, 0.95, 0.92))
        pupil = np.sqrt(eu**2 + ev**2) - s.eye_w * 0.45
        _paint(img, _soft(pupil, edge) * _soft((eye - 1.0) * eye_h, edge), (0.08, 0.06, 0.05))
        inward = -side * eu  # > 0 towards the nose
        brow_y = s.eye_y - 1.6 * s.eye_h - 0.06 - a["brow_raise"] - a["brow_tilt"] * 0.12 * inward / s.eye_w
        brow = np.maximum(np.abs(v - brow_y) - 0.025, np.abs(eu) - 1.3 * s.eye_w)
        _paint(img, _soft(brow, edge), tuple(0.6 * c for c in s.hair))

    nose = np.maximum(np.abs(u) - 0.035, np.abs(v - (s.eye_y + s.mouth_y) * 0.55) - 0.09)
    _paint(img, 0.35 * _soft(nose, edge), tuple(0.7 * c for c in s.skin))
    for k in range(3):
        wrinkle = np.maximum(np.abs(v - (s.eye_y + 0.07 + 0.045 * k)) - 0.012, np.abs(u) - 0.09)
        _paint(img, np.clip(a["nose_wrinkle"], 0, 1) * _soft(wrinkle, edge), tuple(0.55 * c for c in s.skin))

    mouth_w = s.mouth_w * np.maximum(a["mouth_width"], 0.3)
    mu = u / mouth_w
    centre = s.mouth_y - a["mouth_curve"] * (mu**2 - 0.5)
    half_open = 0.5 * np.maximum(a["mouth_open"], 0.0) * np.clip(1.0 - mu**2, 0.0, 1.0)
    inside = np.abs(mu) - 1.0
    lips = np.maximum(np.abs(v - centre) - half_open - 0.03, inside * mouth_w)
    _paint(img, _soft(lips, edge), (0.62, 0.2, 0.22))
    cavity = np.maximum(np.abs(v - centre) - half_open + 0.004, inside * mouth_w)
    _paint(img, _soft(cavity, edge), (0.15, 0.03, 0.05))
    return img


def apply_camera(frames: np.ndarray, style: CameraStyle, rng: np.random.Generator) -> np.ndarray:
    """Return uint8 frames after ``style``'s lighting, colour, occlusion, blur, noise and resolution."""
    size = frames.shape[1]
    img = frames
    axis = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * axis[None, :] + np.sin(angle) * axis[:, None]
    img = img * (1.0 + style.gradient * ramp)[None, :, :, None]
    if rng.random() < style.occlusion:
        h0, w0 = rng.integers(0, size // 2, 2)
        h1, w1 = h0 + rng.integers(size // 4, size // 2 + 1), w0 + rng.integers(size // 4, size // 2 + 1)
        img[:, h0:h1, w0:w1] = rng.uniform(0.1, 0.9, 3)
    img = (img - 0.5) * style.contrast + 0.5
    img = img * style.brightness * np.asarray(style.cast, dtype=np.float32)
    if style.gray > 0:
        img = (1 - style.gray) * img + style.gray * img.mean(-1, keepdims=True)
    if style.blur > 0:
        img = gaussian_filter(img, sigma=(0, style.blur * size / 32, style.blur * size / 32, 0))
    if style.downsample > 1:
        d = style.downsample
        small = img[:, ::d, ::d]
        img = np.repeat(np.repeat(small, d, axis=1), d, axis=2)[:, :size, :size]
    img = img + rng.normal(0.0, style.noise, img.shape).astype(np.float32)
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def frame_times(frames: int, style: CameraStyle, rng: np.random.Generator) -> np.ndarray:
    """Return the trajectory time (in [0, 1]) shown by each of ``frames`` frames.

    A low frame rate holds each distinct frame for several output frames, temporal jitter shifts
    the sampling instants, and dropped frames repeat the previous one.
    """
    distinct = max(2, int(round(frames * style.fps)))
    instants = np.linspace(0.0, 1.0, distinct) + rng.normal(0.0, 0.15 / distinct, distinct)
    times = instants[np.minimum((np.arange(frames) * distinct) // frames, distinct - 1)]
    for i in range(1, frames):
        if rng.random() < style.drop:
            times[i] = times[i - 1]
    return np.clip(times, 0.0, 1.0)


def pose_track(frames: int, severity: float, rng: np.random.Generator) -> np.ndarray:
    """Return (frames, 4) roll / shift-u / shift-v / scale: a clip-level pose plus slow head motion."""
    base = np.array(
        [
            rng.normal(0, 0.12 * severity),
            rng.normal(0, 0.06 * severity),
            rng.normal(0, 0.05 * severity),
            rng.uniform(1.0 - 0.12 * severity, 1.0 + 0.06 * severity),
        ]
    )
    drift = np.cumsum(rng.normal(0, 0.01 * severity, (frames, 4)), axis=0) * np.array([1.0, 1.0, 1.0, 0.3])
    return base[None, :] + drift
