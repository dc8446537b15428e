"""Images per second: CapsNet (3 routing iterations) against the baseline CNN, same batch, same run.

Speed does not depend on the weights' values, so fresh models are timed (no training needed).
"""

from __future__ import annotations

import numpy as np

from bench.timing import median_ms
from engine.capsules import model as capsnet

BATCH = 256


def main() -> None:
    images = capsnet.to_input(np.random.default_rng(0).integers(0, 255, (BATCH, 28, 28), dtype=np.uint8))
    rows = []
    for name in ("capsnet", "capsnet-baseline"):
        model = capsnet.build(name)
        network = model.parts[0]
        ms = median_ms(lambda: network.predict_on_batch(images), repeats=5, warmup=1)
        rows.append((name, BATCH / ms * 1000))
    base = dict(rows)["capsnet-baseline"]
    for name, rate in rows:
        print(f"  {name:<18} {rate:9.0f} images/s (batch {BATCH})   x{rate / base:5.2f} of the baseline CNN")
