"""WaveNet generation: fast (per-layer queues) vs naive (whole receptive field per sample), same run.

Speed does not depend on the weights' values, so the committed weights are used when present and
a freshly initialised network of the same shape otherwise. Targets (issue 9): fast >= 20x naive,
and fast >= 16,000 samples per second (real time at 16 kHz) for the default batch.
"""

from __future__ import annotations

from engine.audio.wavenet import model as wavenet
from engine.core.errors import StudioError

DEFAULT_BATCH = 8  # notes generated together, as the page's chord / blend sweep does
FAST_SECONDS = 0.5
NAIVE_SECONDS = 0.02  # 320 samples: the naive generator needs ~0.1 s per sample at the default batch


def _model() -> tuple[wavenet.WaveNet, str]:
    try:
        return wavenet.load(), "committed weights"
    except StudioError:
        return wavenet.WaveNet(wavenet.build_network()), "fresh weights (no committed file)"


def main() -> None:
    model, source = _model()
    print(
        f"  WaveNet: {len(model.dilations)} dilated layers, receptive field {model.receptive_field} samples; {source}"
    )
    for batch in (1, DEFAULT_BATCH, wavenet.MAX_NOTES):
        notes = [
            wavenet.NoteRequest(
                model.instruments[i % len(model.instruments)], model.pitches[i % len(model.pitches)]
            )
            for i in range(batch)
        ]
        wavenet.generate(model, notes, 0.01)  # warm up
        fast = max(wavenet.generate(model, notes, FAST_SECONDS, seed=s).samples_per_second for s in range(2))
        naive = wavenet.generate(model, notes, NAIVE_SECONDS, method="naive").samples_per_second
        print(
            f"  batch {batch:2d}: fast {fast:9,.0f} samples/s ({fast / wavenet.SAMPLE_RATE:5.2f}x real time), "
            f"naive {naive:7,.0f} samples/s; fast / naive x{fast / naive:6.1f}"
        )
    print(
        f"  targets: fast / naive >= 20x; fast >= {wavenet.SAMPLE_RATE:,} samples/s at batch {DEFAULT_BATCH}"
    )


if __name__ == "__main__":
    main()
