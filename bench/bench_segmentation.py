"""Latency per segmentation model at 512 x 512 px, side by side in one run (issue 4).

Each model goes through `engine.segmentation.api.segment` (the page's and CLI's path: resize to the
model's input, inference, label map back at 512 x 512), median of repeated runs after a warm-up.

- Photo models (DeepLabV3, selfie, SSD + selfie people) get the astronaut photo resized to 512 x 512,
  so the people pipeline has a person to mask.
- The models trained here know 96 x 96 scenes. "resized": a test scene enlarged to 512 x 512 goes
  through `segment`, which squeezes it back to 96 x 96 and upsamples the result (what a photo gets).
  "tiled" (U-Net only): the 512 x 512 image cut into 96 x 96 tiles (padded to 6 x 6 = 36 tiles, one
  batch), so every pixel is seen at the U-Net's own scale; the cost of native resolution.
The hub models need a network and are not timed.
"""

from __future__ import annotations

import cv2
import numpy as np

from bench.timing import median_ms
from engine.core import media, registry
from engine.core.registry import PROJECT_ASSETS
from engine.data import scenes
from engine.segmentation import api as segmentation

SIDE = 512
REPEATS = 10
TILE = scenes.SIZE


def _tiled_unet(unet, pixels: np.ndarray) -> np.ndarray:
    """Label map of a large image from 96 x 96 tiles (edge-padded to whole tiles), one batch."""
    height, width = pixels.shape[:2]
    rows, columns = -(-height // TILE), -(-width // TILE)
    padded = np.pad(pixels, ((0, rows * TILE - height), (0, columns * TILE - width), (0, 0)), mode="edge")
    tiles = padded.reshape(rows, TILE, columns, TILE, 3).transpose(0, 2, 1, 3, 4).reshape(-1, TILE, TILE, 3)
    labels = unet.predict(tiles).reshape(rows, columns, TILE, TILE).transpose(0, 2, 1, 3)
    return labels.reshape(rows * TILE, columns * TILE)[:height, :width]


def main() -> None:
    photo = media.decode_image((PROJECT_ASSETS / "samples" / "astronaut.jpg").read_bytes()).pixels
    photo = cv2.resize(photo, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    scene = cv2.resize(scenes.scene("test", 3).image, (SIDE, SIDE), interpolation=cv2.INTER_NEAREST)
    cases = [
        ("deeplabv3-voc", photo, "astronaut photo"),
        ("selfie-segmentation", photo, "astronaut photo"),
        ("ssd-selfie-people", photo, "astronaut photo"),
        ("unet", scene, "scene, resized to 96 and back"),
        ("mask-rcnn-instances", scene, "scene, resized to 96 and back"),
    ]
    rows = []
    for name, pixels, what in cases:
        spec = registry.get_spec(name)
        if registry.available_source(spec) is None:
            print(f"  {name:<22} not available offline (fetch assets / train it)")
            continue
        loaded = registry.load(name)
        found = segmentation.segment(pixels, loaded)
        ms = median_ms(lambda: segmentation.segment(pixels, loaded), repeats=REPEATS, warmup=2)
        shown = len(found.instances) if found.instances else len(found.class_shares())
        rows.append((f"{name} ({what})", ms, f"{shown} {'instances' if found.instances else 'classes'}"))
        if name == "unet":
            tiled = median_ms(lambda: _tiled_unet(loaded.model, scene), repeats=REPEATS, warmup=2)
            rows.append(("unet (scene, 36 tiles of 96 x 96 in one batch)", tiled, ""))
            single = median_ms(
                lambda: loaded.model.predict(scenes.scene("test", 3).image[None]), repeats=REPEATS
            )
            rows.append(("unet (one 96 x 96 scene, bare predict)", single, ""))
    base = rows[0][1] if rows else 1.0
    print(f"  {'model at ' + str(SIDE) + ' x ' + str(SIDE):<62} {'median ms':>10}")
    for title, ms, found in rows:
        print(f"  {title:<62} {ms:10.1f}   x{ms / base:5.2f} of DeepLabV3   {found}")
