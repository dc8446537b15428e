"""WaveNet: raw audio one sample at a time, with dilated causal convolutions.

After van den Oord et al., "WaveNet: A Generative Model for Raw Audio" (2016):

- audio is mu-law companded and quantized to 256 classes, and the network predicts a softmax over
  the class of the next sample from the samples before it;
- a causal convolution, then stacks of dilated causal convolutions (kernel 2, dilation doubling
  1, 2, 4, ...), each with a gated unit tanh(W_f * x + V_f c) . sigmoid(W_g * x + V_g c), a residual
  connection and a skip connection; the summed skips go through ReLU -> 1x1 -> ReLU -> 1x1;
- global conditioning c: a learned embedding of the instrument and one of the MIDI pitch, added
  into every gate. Blending two instruments (NSynth's interpolation, Engel et al. 2017) mixes their
  embeddings.
- local conditioning (the paper's sec. 2.5: a time series y added into every gate as V * y): here
  the sine and cosine of the note's fundamental at each sample, the way WaveNet vocoders are given
  F0 and neural source-filter models a sine source (Wang et al., 2019). Without it, a net this
  small trained this briefly on two CPU cores learned to continue whatever period it saw (teacher
  forcing rewards copying the last period), and from silence it drifted into noise: after 1,000
  steps basic-pitch heard the requested pitch in 1 of 16 generated notes.

Generation two ways, with the same weights and the same random numbers so they give the same
samples: naive (run the whole receptive field through the network for every new sample) and fast
(Paine et al., "Fast Wavenet Generation Algorithm", 2016: each layer keeps a queue of its past
inputs, so a new sample costs one step per layer). Inference runs in NumPy: at one sample per step
the arrays are tiny, and NumPy's per-call cost is far below TensorFlow's.
"""

from __future__ import annotations

import dataclasses
import pathlib
import threading
import time

import numpy as np
import threadpoolctl

from engine.core import manifest, registry
from engine.core.errors import InvalidInput
from engine.core.progress import ProgressCallback, StopCheck, never_stop, no_progress
from engine.data import notes as audio_notes

QUANTIZATION = 256  # mu-law classes
MU = QUANTIZATION - 1
SAMPLE_RATE = audio_notes.SAMPLE_RATE
DILATIONS = tuple(2**i for i in range(9)) + tuple(2**i for i in range(6))  # 1..256, then 1..32
RESIDUAL_CHANNELS = 32
SKIP_CHANNELS = 64
OUTPUT_CHANNELS = 128
EMBEDDING_SIZE = 16  # per conditioning input (instrument, pitch)
INPUT_NOISE = 0.04  # standard deviation, in companded amplitude (one class is 2 / 255 = 0.008)
INSTRUMENTS = ("piano", "organ", "trumpet", "flute")  # the subset of audio_notes it is trained on
PITCHES = tuple(range(48, 73))  # C3 .. C5
MAX_SECONDS = 4.0
MAX_NOTES = 16
WEIGHTS = "audio/wavenet.npz"
PAPER = (
    "van den Oord et al., WaveNet: A Generative Model for Raw Audio, 2016; Paine et al., "
    "Fast Wavenet Generation Algorithm, 2016"
)


def receptive_field(dilations: tuple[int, ...] = DILATIONS) -> int:
    """Samples one output sees: the causal conv's 2 plus (kernel - 1) * dilation per layer, minus 1."""
    return 2 + sum(dilations)


def mu_law_encode(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] -> int64 classes 0..255 (mu-law companding, then uniform bins)."""
    audio = np.clip(audio, -1.0, 1.0)
    companded = np.sign(audio) * np.log1p(MU * np.abs(audio)) / np.log1p(MU)
    return np.clip(((companded + 1) / 2 * MU + 0.5).astype(np.int64), 0, MU)


def mu_law_decode(codes: np.ndarray) -> np.ndarray:
    """Classes 0..255 -> float32 audio in [-1, 1] (the inverse of mu_law_encode up to its bin width)."""
    companded = 2 * (np.asarray(codes, np.float64) / MU) - 1
    return (np.sign(companded) * np.expm1(np.abs(companded) * np.log1p(MU)) / MU).astype(np.float32)


SILENCE = int(mu_law_encode(np.zeros(1))[0])


def phase_features(frequencies: np.ndarray, first_sample: np.ndarray, length: int) -> np.ndarray:
    """(B, length, 2) float32: sin and cos of the fundamental at samples first_sample .. + length - 1."""
    samples = np.asarray(first_sample, np.float64)[:, None] + np.arange(length)[None]
    angle = 2 * np.pi * np.asarray(frequencies, np.float64)[:, None] * samples / SAMPLE_RATE
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1).astype(np.float32)


def build_network(
    dilations: tuple[int, ...] = DILATIONS,
    instruments: int = len(INSTRUMENTS),
    pitches: int = len(PITCHES),
    input_noise: float = INPUT_NOISE,
):
    """The Keras model: (codes (B, T) of the previous samples, instrument (B,), pitch (B,), phase (B, T, 2))
    -> logits (B, T, 256).

    Output t is the distribution of the sample after input t, and phase t belongs to that sample;
    causal padding keeps output t from seeing inputs after t.
    """
    import keras
    from keras import layers

    codes = keras.Input((None,), dtype="int32", name="codes")
    instrument = keras.Input((), dtype="int32", name="instrument")
    pitch = keras.Input((), dtype="int32", name="pitch")
    phase = keras.Input((None, 2), name="phase")
    condition = layers.Concatenate(name="condition")(
        [
            layers.Embedding(instruments, EMBEDDING_SIZE, name="instrument_embedding")(instrument),
            layers.Embedding(pitches, EMBEDDING_SIZE, name="pitch_embedding")(pitch),
        ]
    )
    # The input is the companded amplitude of each previous sample as one number, not a one-hot or
    # embedding of its class: an embedding must learn that class 130 sits next to 131, and with it
    # the net had barely learnt to predict a sustained note after 500 steps (3.5 nats per sample).
    x = keras.ops.expand_dims(keras.ops.cast(codes, "float32") * (2.0 / MU) - 1.0, -1)
    # Noise on the input during training only (LPCNet's remedy, Valin & Skoglund 2019): with clean
    # teacher-forced inputs the net leaned on the past samples and, fed its own noisy samples, lost
    # the pitch (5 epochs: 3 to 5 of 16 notes at pitch); noisy inputs push it onto the conditioning.
    x = layers.GaussianNoise(input_noise, name="input_noise")(x)
    x = layers.Conv1D(RESIDUAL_CHANNELS, 2, padding="causal", name="causal_conv")(x)
    skips = []
    for index, dilation in enumerate(dilations):
        gate = layers.Conv1D(
            2 * RESIDUAL_CHANNELS, 2, dilation_rate=dilation, padding="causal", name=f"dilated_{index}"
        )(x)
        conditioned = layers.Dense(2 * RESIDUAL_CHANNELS, use_bias=False, name=f"condition_{index}")(
            condition
        )
        gate = (
            gate
            + conditioned[:, None, :]
            + layers.Dense(2 * RESIDUAL_CHANNELS, use_bias=False, name=f"local_{index}")(phase)
        )
        gated = keras.ops.tanh(gate[..., :RESIDUAL_CHANNELS]) * keras.ops.sigmoid(
            gate[..., RESIDUAL_CHANNELS:]
        )
        skips.append(layers.Conv1D(SKIP_CHANNELS, 1, name=f"skip_{index}")(gated))
        if index < len(dilations) - 1:  # the last layer's output feeds only its skip
            x = x + layers.Conv1D(RESIDUAL_CHANNELS, 1, name=f"residual_{index}")(gated)
    out = keras.ops.relu(layers.Add(name="skips")(skips))
    out = keras.ops.relu(layers.Conv1D(OUTPUT_CHANNELS, 1, name="output_1")(out))
    logits = layers.Conv1D(QUANTIZATION, 1, name="output_2")(out)
    return keras.Model([codes, instrument, pitch, phase], logits, name="wavenet")


@dataclasses.dataclass(frozen=True)
class NoteRequest:
    """One note to generate: an instrument name, or {name: weight} to blend several, and a MIDI pitch."""

    instrument: str | dict[str, float]
    pitch: int


@dataclasses.dataclass(frozen=True)
class Generation:
    audio: np.ndarray  # float32 (notes, samples) in [-1, 1]
    sample_rate: int
    samples_per_second: float  # generated samples of all notes per wall-clock second
    seconds: float  # wall-clock time
    method: str  # "fast" or "naive"
    stopped: bool  # the user stopped it early; audio holds what was made


class WaveNet:
    """Trained weights as NumPy arrays, with the two generators. Thread-safe (no shared state)."""

    def __init__(
        self,
        network,
        instruments: tuple[str, ...] = INSTRUMENTS,
        pitches: tuple[int, ...] = PITCHES,
        dilations: tuple[int, ...] = DILATIONS,
        dtype=np.float32,
    ):
        self.instruments, self.pitches, self.dilations = instruments, pitches, dilations
        self.receptive_field = receptive_field(dilations)
        self.sample_rate = SAMPLE_RATE
        self.network = network
        get = lambda name: [np.asarray(w, dtype) for w in network.get_layer(name).get_weights()]  # noqa: E731
        self.instrument_table = get("instrument_embedding")[0]
        self.pitch_table = get("pitch_embedding")[0]
        self.input_table = (np.arange(QUANTIZATION, dtype=dtype) * (2.0 / MU) - 1.0)[
            :, None
        ]  # class -> amplitude
        self.causal = get("causal_conv")  # kernel (2, 1, R): the previous and the current amplitude; bias
        self.dilated = [get(f"dilated_{i}") for i in range(len(dilations))]
        self.conditions = [get(f"condition_{i}")[0] for i in range(len(dilations))]
        self.locals = [get(f"local_{i}")[0] for i in range(len(dilations))]  # (2, 2R) each
        self.skip = [get(f"skip_{i}") for i in range(len(dilations))]
        self.residual = [get(f"residual_{i}") for i in range(len(dilations) - 1)]
        self.output_1, self.output_2 = get("output_1"), get("output_2")
        self.causal_kernel = np.concatenate(
            [self.causal[0][0], self.causal[0][1]]
        )  # [previous; current] taps
        self.dtype = dtype

    def condition(self, requests: list[NoteRequest]) -> np.ndarray:
        """(notes, 2 * EMBEDDING_SIZE) conditioning vectors; blends mix instrument embeddings."""
        rows = []
        for request in requests:
            weights = (
                request.instrument if isinstance(request.instrument, dict) else {request.instrument: 1.0}
            )
            unknown = [name for name in weights if name not in self.instruments]
            if unknown or not weights:
                raise InvalidInput(
                    f"WaveNet knows the instruments {', '.join(self.instruments)}; "
                    f"not {', '.join(map(str, unknown)) or 'an empty blend'}."
                )
            total = sum(max(0.0, float(w)) for w in weights.values())
            if total <= 0:
                raise InvalidInput(
                    "Blend weights must be positive; give at least one instrument a weight above 0."
                )
            instrument = sum(
                max(0.0, float(w)) / total * self.instrument_table[self.instruments.index(name)]
                for name, w in weights.items()
            )
            if request.pitch not in self.pitches:
                raise InvalidInput(
                    f"WaveNet was trained on MIDI pitches {self.pitches[0]}-{self.pitches[-1]} "
                    f"({audio_notes.pitch_name(self.pitches[0])}-{audio_notes.pitch_name(self.pitches[-1])}); "
                    f"{request.pitch} is outside."
                )
            rows.append(np.concatenate([instrument, self.pitch_table[self.pitches.index(request.pitch)]]))
        return np.stack(rows).astype(self.dtype)

    def layer_conditions(self, condition: np.ndarray) -> list[np.ndarray]:
        return [condition @ weights for weights in self.conditions]

    def _output(self, skip_sum: np.ndarray) -> np.ndarray:
        hidden = np.maximum(np.maximum(skip_sum, 0) @ self.output_1[0][0] + self.output_1[1], 0)
        return hidden @ self.output_2[0][0] + self.output_2[1]

    def _gate(self, index: int, past: np.ndarray, now: np.ndarray, condition: np.ndarray):
        kernel, bias = self.dilated[index]
        gate = past @ kernel[0] + now @ kernel[1] + bias + condition
        half = RESIDUAL_CHANNELS
        gated = np.tanh(gate[..., :half]) / (1 + np.exp(-gate[..., half:]))
        skip = gated @ self.skip[index][0][0] + self.skip[index][1]
        if index == len(self.residual):
            return skip, 0.0
        return skip, gated @ self.residual[index][0][0] + self.residual[index][1]

    def logits(self, codes: np.ndarray, condition: np.ndarray, phase: np.ndarray) -> np.ndarray:
        """Full causal forward pass in NumPy: codes (B, T), phase (B, T, 2) -> logits (B, T, 256); zero
        padding on the left, as Keras's causal padding does."""
        conditions = self.layer_conditions(condition)
        embedded = self.input_table[codes]
        shifted = np.pad(embedded, ((0, 0), (1, 0), (0, 0)))[:, :-1]
        x = shifted @ self.causal[0][0] + embedded @ self.causal[0][1] + self.causal[1]
        skip_sum = 0.0
        for index, dilation in enumerate(self.dilations):
            past = np.pad(x, ((0, 0), (dilation, 0), (0, 0)))[:, : x.shape[1]]
            skip, residual = self._gate(
                index, past, x, conditions[index][:, None, :] + phase @ self.locals[index]
            )
            skip_sum = skip_sum + skip
            x = x + residual
        return self._output(skip_sum)


def _sample(logits: np.ndarray, temperature: float, uniform: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling with given uniforms, so two generators with the same draws agree."""
    if temperature <= 0:
        return np.argmax(logits, axis=-1)
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=-1, keepdims=True)
    cdf = np.cumsum(np.exp(scaled), axis=-1)
    return np.minimum((cdf < uniform[:, None] * cdf[:, -1:]).sum(axis=-1), MU)


def _check(model: WaveNet, notes: list[NoteRequest], seconds: float, temperature: float) -> int:
    if not notes:
        raise InvalidInput("Ask for at least one note.")
    if len(notes) > MAX_NOTES:
        raise InvalidInput(f"At most {MAX_NOTES} notes at once; you asked for {len(notes)}.")
    if not (0 < seconds <= MAX_SECONDS):
        raise InvalidInput(
            f"Duration must be above 0 and at most {MAX_SECONDS:g} s; you asked for {seconds:g} s."
        )
    if not (0 <= temperature <= 2):
        raise InvalidInput(
            f"Temperature must be between 0 (always the likeliest sample) and 2; got {temperature:g}."
        )
    return max(1, int(round(seconds * model.sample_rate)))


def generate(
    model: WaveNet,
    notes: list[NoteRequest],
    seconds: float,
    temperature: float = 1.0,
    seed: int = 0,
    method: str = "fast",
    on_progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
) -> Generation:
    """Generate `seconds` of audio for each note (all notes in one batch), starting from silence.

    `method` "fast" keeps per-layer queues (O(layers) per sample); "naive" recomputes the whole
    receptive field for every sample (O(receptive field x layers)). Same seed, same samples.
    """
    if method not in ("fast", "naive"):
        raise InvalidInput(f"Unknown generation method {method!r}: use fast or naive.")
    steps = _check(model, notes, seconds, temperature)
    condition = model.condition(notes)
    frequencies = audio_notes.midi_frequency([note.pitch for note in notes])
    uniforms = np.random.default_rng(seed).random((steps, len(notes)))
    step_function = (_fast_steps if method == "fast" else _naive_steps)(model, condition, frequencies)
    codes = np.full((len(notes), steps), SILENCE, np.int64)
    previous = np.full(len(notes), SILENCE, np.int64)
    started, stopped, report_every = time.perf_counter(), False, max(1, steps // 50)
    made = 0
    # One BLAS thread: the matrices are tiny, and on a busy machine OpenBLAS's threads waiting for
    # each other made the naive step 16x slower (1.33 s vs 0.08 s measured on the 2-core box).
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        for t in range(steps):
            if t % report_every == 0:
                if should_stop():
                    stopped = True
                    break
                on_progress(t / steps, f"{method} generation: sample {t:,} of {steps:,}")
            previous = _sample(step_function(previous), temperature, uniforms[t])
            codes[:, t] = previous
            made = t + 1
    seconds_taken = time.perf_counter() - started
    on_progress(1.0, f"{method} generation: {made:,} samples per note in {seconds_taken:.1f} s")
    return Generation(
        mu_law_decode(codes[:, :made]),
        model.sample_rate,
        made * len(notes) / max(seconds_taken, 1e-9),
        seconds_taken,
        method,
        stopped,
    )


def _fast_steps(model: WaveNet, condition: np.ndarray, frequencies: np.ndarray):
    """Fast WaveNet: each dilated layer keeps a ring buffer of its last `dilation` inputs.

    The per-sample arithmetic is rearranged to cost fewer NumPy calls (the step is call-bound):
    both taps of a layer in one matmul over [past, now]; sigmoid(a) = (1 + tanh(a / 2)) / 2, so one
    tanh serves both halves of the gate; the skips of all layers in one matmul at the end.
    """
    half = RESIDUAL_CHANNELS
    scale = np.concatenate([np.ones(half), np.full(half, 0.5)]).astype(
        model.dtype
    )  # a -> a / 2 on the sigmoid half
    kernels = [np.concatenate([kernel[0], kernel[1]]) * scale for kernel, _ in model.dilated]
    biases = [
        (bias + cond) * scale for (_, bias), cond in zip(model.dilated, model.layer_conditions(condition))
    ]
    residuals = [(kernel[0] * 0.5, bias) for kernel, bias in model.residual]  # 0.5: gated_all holds 2 x gated
    local_kernel = np.concatenate([local * scale for local in model.locals], axis=1)  # (2, layers * 2R)
    skip_kernel = np.concatenate([kernel[0] for kernel, _ in model.skip]) * 0.5  # (layers * R, S)
    skip_bias = sum(bias for _, bias in model.skip)
    batch = len(condition)
    queues = [np.zeros((dilation, batch, half), model.dtype) for dilation in model.dilations]
    gated_all = np.empty(
        (batch, len(model.dilations) * half), model.dtype
    )  # holds 2 x each layer's gated output
    last_embedded = np.zeros((batch, 1), model.dtype)  # the causal conv's own queue of 1
    t = 0

    def step(previous_codes: np.ndarray) -> np.ndarray:
        nonlocal last_embedded, t
        embedded = model.input_table[previous_codes]
        x = np.concatenate([last_embedded, embedded], axis=1) @ model.causal_kernel + model.causal[1]
        last_embedded = embedded
        local = phase_features(frequencies, np.full(batch, t), 1)[:, 0] @ local_kernel
        for index, dilation in enumerate(model.dilations):
            queue, slot = queues[index], t % dilation
            z = np.tanh(
                np.concatenate([queue[slot], x], axis=1) @ kernels[index]
                + biases[index]
                + local[:, 2 * half * index : 2 * half * (index + 1)]
            )
            queue[slot] = x  # after reading: the slot held this layer's input `dilation` steps ago
            gated = gated_all[:, index * half : (index + 1) * half]
            np.multiply(z[:, :half], 1 + z[:, half:], out=gated)  # = 2 * tanh(.) * sigmoid(.)
            if index < len(residuals):
                x = x + gated @ residuals[index][0] + residuals[index][1]
        t += 1
        return model._output(gated_all @ skip_kernel + skip_bias)

    return step


def _naive_steps(model: WaveNet, condition: np.ndarray, frequencies: np.ndarray):
    """Naive generation: the whole receptive field goes through the network for every sample."""
    window = np.zeros((len(condition), 0), np.int64)
    t = 0

    def step(previous_codes: np.ndarray) -> np.ndarray:
        nonlocal window, t
        window = np.concatenate([window, previous_codes[:, None]], axis=1)[:, -model.receptive_field :]
        first = t + 1 - window.shape[1]  # the sample the window's first output predicts
        t += 1
        return model.logits(
            window, condition, phase_features(frequencies, np.full(len(window), first), window.shape[1])
        )[:, -1]

    return step


def load_weights(path: pathlib.Path, dtype=np.float32) -> WaveNet:
    from engine.core import weights_io

    network = build_network()
    weights_io.load_float16(network, path)
    return WaveNet(network, dtype=dtype)


_BUILD_LOCK = threading.Lock()


def from_source(spec: registry.ModelSpec, source: registry.WeightSource) -> WaveNet:
    """The registry's builder of "wavenet" (engine/core/entries.py)."""
    with _BUILD_LOCK:
        return load_weights(manifest.verified(source.reference))


def load() -> WaveNet:
    """The committed WaveNet (registry name "wavenet"); ModelUnavailable when its weights are missing."""
    return registry.load("wavenet").model
