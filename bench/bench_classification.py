"""Classification overhead and whole-request cost (issue: foundation).

1. Engine overhead: our preprocess + invoke + postprocess against the bare interpreter invoke on
   the same decoded image (target ratio <= 1.5).
2. Whole request on a 12-megapixel phone photo (bytes in, top-5 out, EXIF orientation honoured)
   against a plain full-size `cv2.imdecode` of the same bytes (target ratio <= 0.5).
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from bench.timing import median_ms, report
from engine.classification import classify as classification
from engine.core import media, registry
from engine.core.registry import PROJECT_ASSETS


def phone_photo() -> bytes:
    """A 4000 x 3000 JPEG (12 MP) with an EXIF orientation tag, like a phone's portrait shot."""
    cat = np.asarray(Image.open(PROJECT_ASSETS / "samples" / "chelsea.jpg").convert("RGB"))
    big = cv2.resize(cat, (4000, 3000), interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(0).integers(-6, 7, big.shape, dtype=np.int16)  # sensor-like detail
    big = np.clip(big.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.fromarray(big).save(buffer, format="JPEG", quality=92, exif=exif.tobytes())
    return buffer.getvalue()


def main() -> None:
    loaded = registry.load("efficientnet-lite0")
    interpreter = loaded.model.runtime.interpreter
    detail = interpreter.get_input_details()[0]
    decoded = media.decode_image((PROJECT_ASSETS / "samples" / "chelsea.jpg").read_bytes()).pixels
    ready = cv2.resize(decoded, (224, 224), interpolation=cv2.INTER_AREA)[None]

    def bare_invoke():
        interpreter.set_tensor(detail["index"], ready)
        interpreter.invoke()

    print("Engine overhead on chelsea.jpg (451 x 300), decoded once:")
    report(
        [
            ("bare interpreter invoke (input already 224 x 224)", median_ms(bare_invoke, 200)),
            (
                "classify(): resize + invoke + top-5",
                median_ms(lambda: classification.classify(decoded, loaded), 200),
            ),
        ],
        baseline="bare interpreter invoke (input already 224 x 224)",
        target="ratio <= 1.5",
    )

    photo = phone_photo()
    print(f"\nWhole request on a 12-megapixel JPEG ({len(photo) / 1e6:.1f} MB, EXIF orientation 6):")
    buffer = np.frombuffer(photo, np.uint8)
    full = "plain full-size cv2.imdecode"
    report(
        [
            (full, median_ms(lambda: cv2.imdecode(buffer, cv2.IMREAD_COLOR), 15)),
            (
                "classify_bytes(): reduced decode + EXIF + top-5",
                median_ms(lambda: classification.classify_bytes(photo), 15),
            ),
        ],
        baseline=full,
        target="ratio <= 0.5",
    )
    result = classification.classify_bytes(photo)
    print(f"  top-1 on the 12 MP photo: {result.top[0].label} ({result.top[0].score:.2f})")
