"""Seeded fabricated bad images for the quality-gate tests: degraded real photos (blurred, darkened, over-exposed)
and images that are not plants (noise, walls, skin, sky, checkerboards, text). Made in memory, never stored."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from inference.masks import resize_short

SIZES = [(300, 300), (480, 640), (960, 1280), (224, 224), (1200, 1600), (373, 1280)]


def degrade(rgb: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "blur":
        small = resize_short(rgb, 300)
        sigma = float(rng.uniform(3.0, 5.0))
        return cv2.GaussianBlur(small, (0, 0), sigma)
    if kind == "dark":
        return np.clip(rgb.astype(np.float32) * 0.15, 0, 255).round().astype(np.uint8)
    if kind == "bright":
        return np.clip(rgb.astype(np.float32) * 3.0, 0, 255).round().astype(np.uint8)
    raise ValueError(kind)


def _size(rng: np.random.Generator) -> tuple[int, int]:
    h, w = SIZES[rng.integers(len(SIZES))]
    return int(h), int(w)


def _gradient(h: int, w: int, c0: Any, c1: Any, rng: np.random.Generator) -> np.ndarray:
    ang = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (np.cos(ang) * xx / w + np.sin(ang) * yy / h)
    t = (t - t.min()) / (t.max() - t.min() + 1e-6)
    return (np.asarray(c0, np.float32)[None, None] * (1 - t[..., None]) + np.asarray(c1, np.float32)[None, None] * t[..., None])


def synth(kind: str, rng: np.random.Generator) -> np.ndarray:
    h, w = _size(rng)
    if kind == "uniform_noise":
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if kind == "gaussian_noise":
        mean = rng.uniform(40, 215, 3)
        sd = rng.uniform(15, 60)
        return np.clip(rng.normal(mean, sd, (h, w, 3)), 0, 255).astype(np.uint8)
    if kind == "wall":
        greys = [(128, 128, 128), (200, 200, 198), (90, 92, 95), (225, 210, 180), (210, 195, 165), (235, 225, 200),
                 (200, 185, 150), (180, 170, 150)]
        c = np.asarray(greys[rng.integers(len(greys))], np.float32)
        img = _gradient(h, w, c * rng.uniform(0.6, 0.85), np.minimum(c * rng.uniform(1.0, 1.15), 255), rng)
        img += rng.normal(0, 2.0, (h, w, 1))
        return np.clip(img, 0, 255).astype(np.uint8)
    if kind == "skin":
        bg = np.asarray([(235, 235, 235), (60, 60, 70), (200, 190, 170), (120, 110, 100)][rng.integers(4)], np.float32)
        img = _gradient(h, w, bg * 0.8, np.minimum(bg * 1.1, 255), rng)
        skins = [(224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 172), (241, 194, 125), (170, 110, 80)]
        for _ in range(rng.integers(1, 5)):
            c = np.asarray(skins[rng.integers(len(skins))], np.float32) * rng.uniform(0.8, 1.05)
            blob = np.zeros((h, w), np.uint8)
            ax = (int(rng.uniform(0.15, 0.45) * w), int(rng.uniform(0.15, 0.45) * h))
            cv2.ellipse(blob, (int(rng.uniform(0.2, 0.8) * w), int(rng.uniform(0.2, 0.8) * h)), ax,
                        float(rng.uniform(0, 180)), 0, 360, 1, -1)
            a = cv2.GaussianBlur(blob.astype(np.float32), (0, 0), max(1.0, 0.01 * min(h, w)))[..., None]
            shade = _gradient(h, w, c * 0.85, np.minimum(c * 1.1, 255), rng)
            img = img * (1 - a) + shade * a
        img += rng.normal(0, 2.0, (h, w, 1))
        return np.clip(img, 0, 255).astype(np.uint8)
    if kind == "sky":
        top = np.asarray((rng.uniform(40, 90), rng.uniform(100, 150), rng.uniform(200, 245)), np.float32)
        bot = np.asarray((rng.uniform(150, 200), rng.uniform(190, 220), rng.uniform(235, 255)), np.float32)
        yy = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        img = top * (1 - yy) + bot * yy
        img = np.repeat(img, w, axis=1)
        for _ in range(rng.integers(0, 4)):  # a few soft clouds
            blob = np.zeros((h, w), np.float32)
            cv2.ellipse(blob, (int(rng.uniform(0, w)), int(rng.uniform(0, h))),
                        (int(rng.uniform(0.1, 0.3) * w), int(rng.uniform(0.05, 0.15) * h)), 0, 0, 360, 1.0, -1)
            a = cv2.GaussianBlur(blob, (0, 0), 0.03 * min(h, w))[..., None] * 0.8
            img = img * (1 - a) + 245 * a
        img += rng.normal(0, 1.5, (h, w, 1))
        return np.clip(img, 0, 255).astype(np.uint8)
    if kind == "checkerboard":
        sq = int(rng.integers(8, 60))
        yy, xx = np.mgrid[0:h, 0:w]
        b = ((yy // sq + xx // sq) % 2).astype(np.float32)
        lo, hi = rng.uniform(0, 60), rng.uniform(190, 255)
        img = lo + (hi - lo) * b
        return np.repeat(np.clip(img, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    if kind == "text":
        img = np.full((h, w, 3), int(rng.integers(225, 256)), np.uint8)
        scale = min(h, w) / 300
        y = int(30 * scale)
        while y < h - 10:
            x = int(rng.integers(5, 30))
            words = " ".join("".join(chr(rng.integers(97, 123)) for _ in range(rng.integers(2, 9)))
                             for _ in range(rng.integers(3, 10)))
            cv2.putText(img, words, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 0, 0),
                        max(1, int(1.5 * scale)), cv2.LINE_AA)
            y += int(rng.integers(22, 40) * scale)
        return img
    raise ValueError(kind)


DEGRADE_KINDS = ("blur", "dark", "bright")
SYNTH_KINDS = ("uniform_noise", "gaussian_noise", "wall", "skin", "sky", "checkerboard", "text")
