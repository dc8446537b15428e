"""WaveNet: mu-law, causality, receptive field, fast = naive generation, bounds, CLI, training step.

The structural tests run on a freshly initialised network (they check the algorithm, which holds
for any weights); the committed weights are checked in test_wavenet_committed.py.
"""

import numpy as np
import pytest

from engine.audio.wavenet import model as wavenet
from engine.audio.wavenet import train as wavenet_training
from engine.core.errors import InvalidInput
from engine.data import notes as audio_notes


@pytest.fixture(scope="module")
def network():
    import keras

    keras.utils.set_random_seed(7)
    return wavenet.build_network()


@pytest.fixture(scope="module")
def model64(network):
    return wavenet.WaveNet(network, dtype=np.float64)


def test_mu_law_round_trip_is_within_one_bin():
    audio = np.linspace(-1, 1, 10001)
    codes = wavenet.mu_law_encode(audio)
    assert codes.min() == 0 and codes.max() == 255 and wavenet.SILENCE in (127, 128)
    decoded = wavenet.mu_law_decode(codes)
    # the bin width in the companded domain is 2/255; back in the signal domain it grows with |x|
    companded = np.sign(audio) * np.log1p(255 * np.abs(audio)) / np.log1p(255)
    recompanded = np.sign(decoded) * np.log1p(255 * np.abs(decoded)) / np.log1p(255)
    assert np.abs(companded - recompanded).max() <= 1 / 255 + 1e-6
    assert np.abs(decoded - audio)[np.abs(audio) < 0.01].max() < 0.001  # fine steps near silence
    assert np.array_equal(wavenet.mu_law_encode(decoded), codes)


def test_receptive_field_matches_the_formula_and_the_network(model64):
    field = wavenet.receptive_field()
    assert field == 2 + sum(wavenet.DILATIONS) == 576
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (1, 1200))
    condition = model64.condition([wavenet.NoteRequest("piano", 60)])
    phase = wavenet.phase_features(audio_notes.midi_frequency([60]), np.zeros(1), 1200)
    base = model64.logits(codes, condition, phase)[0, -1]
    changed_inside, changed_outside = codes.copy(), codes.copy()
    changed_inside[0, -field] = (codes[0, -field] + 100) % 256  # the oldest sample it can see
    changed_outside[0, :-field] = rng.integers(0, 256, 1200 - field)  # everything older
    # exact comparisons: through 15 randomly initialised layers the oldest sample's effect is tiny
    assert np.abs(model64.logits(changed_inside, condition, phase)[0, -1] - base).max() > 0
    assert np.array_equal(model64.logits(changed_outside, condition, phase)[0, -1], base)


def test_outputs_never_depend_on_later_inputs(network):
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 256, (1, 400)).astype("int32")
    later = codes.copy()
    later[0, 200:] = rng.integers(0, 256, 200)
    phase = wavenet.phase_features(audio_notes.midi_frequency([53]), np.zeros(1), 400)
    later_phase = phase.copy()
    later_phase[0, 200:] = 0
    args = [np.array([1], "int32"), np.array([5], "int32")]
    before, after = (
        np.asarray(network([codes, *args, phase])),
        np.asarray(network([later, *args, later_phase])),
    )
    assert np.allclose(before[0, :200], after[0, :200], atol=1e-6)  # outputs up to 199 see inputs <= 199
    assert not np.allclose(before[0, 200], after[0, 200])


def test_numpy_forward_matches_keras(network, model64):
    codes = np.random.default_rng(2).integers(0, 256, (2, 700))
    requests = [wavenet.NoteRequest("organ", 50), wavenet.NoteRequest("flute", 70)]
    phase = wavenet.phase_features(audio_notes.midi_frequency([50, 70]), np.array([0, 321]), 700)
    keras_logits = np.asarray(
        network([codes.astype("int32"), np.array([1, 3], "int32"), np.array([2, 22], "int32"), phase])
    )
    assert np.abs(keras_logits - model64.logits(codes, model64.condition(requests), phase)).max() < 1e-4


@pytest.fixture(scope="module")
def shallow64():
    """A 5-layer net: the naive generator's cost grows with the receptive field, the check does not."""
    import keras

    keras.utils.set_random_seed(8)
    dilations = (1, 2, 4, 8, 16)
    return wavenet.WaveNet(wavenet.build_network(dilations), dilations=dilations, dtype=np.float64)


def test_fast_and_naive_generation_give_the_same_samples(shallow64):
    model64 = shallow64
    assert model64.receptive_field == 33
    requests = [wavenet.NoteRequest("piano", 60), wavenet.NoteRequest({"organ": 0.5, "trumpet": 0.5}, 55)]
    fast = wavenet.generate(model64, requests, 0.04, temperature=1.0, seed=11, method="fast")
    naive = wavenet.generate(model64, requests, 0.04, temperature=1.0, seed=11, method="naive")
    assert fast.audio.shape == (2, 640) and np.array_equal(fast.audio, naive.audio)
    assert np.isfinite(fast.audio).all() and np.abs(fast.audio).max() <= 1.0
    other_seed = wavenet.generate(model64, requests, 0.04, temperature=1.0, seed=12, method="fast")
    assert not np.array_equal(other_seed.audio, fast.audio)


def test_generation_reports_progress_and_can_be_stopped(model64):
    messages = []
    calls = iter(range(1000))
    stopped = wavenet.generate(
        model64,
        [wavenet.NoteRequest("piano", 60)],
        1.0,
        seed=0,
        on_progress=lambda f, m, p=None: messages.append((f, m)),
        should_stop=lambda: next(calls) >= 3,
    )
    assert stopped.stopped and 0 < stopped.audio.shape[1] < 16000
    assert messages[0][0] == 0 and messages[-1][0] == 1.0


def test_blend_weights_mix_the_instrument_embeddings(model64):
    piano, organ = (model64.condition([wavenet.NoteRequest(n, 60)])[0] for n in ("piano", "organ"))
    blend = model64.condition([wavenet.NoteRequest({"piano": 3, "organ": 1}, 60)])[0]
    assert np.allclose(blend, 0.75 * piano + 0.25 * organ)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"notes": []}, "at least one note"),
        ({"seconds": 0}, "Duration"),
        ({"seconds": wavenet.MAX_SECONDS + 1}, "Duration"),
        ({"temperature": 5}, "Temperature"),
        ({"notes": [wavenet.NoteRequest("kazoo", 60)]}, "knows the instruments"),
        ({"notes": [wavenet.NoteRequest("piano", 20)]}, "MIDI pitches"),
        ({"notes": [wavenet.NoteRequest({"piano": 0}, 60)]}, "positive"),
        ({"notes": [wavenet.NoteRequest("piano", 60)] * (wavenet.MAX_NOTES + 1)}, "At most"),
        ({"method": "magic"}, "method"),
    ],
)
def test_bad_requests_get_clear_errors(model64, kwargs, message):
    arguments = {"notes": [wavenet.NoteRequest("piano", 60)], "seconds": 0.01, **kwargs}
    with pytest.raises(InvalidInput, match=message):
        wavenet.generate(model64, **arguments)


def test_training_windows_start_in_silence_or_score_only_full_context():
    codes = np.random.default_rng(3).integers(0, 256, (5, 4000))
    inputs, targets, mask, notes, first = wavenet_training.windows(
        codes, np.random.default_rng(4), batch=40, scored=100, field=50
    )
    assert inputs.shape == targets.shape == mask.shape == (40, 150)
    assert np.array_equal(inputs[:, 1:], targets[:, :-1])  # teacher forcing: the input is the target shifted
    starts = mask[:, 0] == 1
    assert starts.any() and (~starts).any()
    assert (inputs[starts, 0] == wavenet.SILENCE).all()
    assert np.array_equal(targets[starts], codes[notes[starts], :150])
    assert (mask[~starts, :50] == 0).all() and (mask[~starts, 50:] == 1).all()
    assert (first[starts] == 0).all()
    for row in np.flatnonzero(~starts)[:5]:  # the first target is sample `first` of its note
        assert np.array_equal(targets[row], codes[notes[row], first[row] : first[row] + 150])


def test_cli_instrument_blends_parse():
    from engine.audio.wavenet.cli import parse_instrument

    assert parse_instrument("piano") == "piano"
    assert parse_instrument("piano:0.25,flute:0.75") == {"piano": 0.25, "flute": 0.75}
    with pytest.raises(InvalidInput, match="numbers"):
        parse_instrument("piano:loud")


@pytest.mark.training
def test_a_smoke_run_on_the_trainer_logs_an_epoch_and_writes_nothing(tmp_path, monkeypatch):
    from engine.core import runs

    rng = np.random.default_rng(0)
    count = len(wavenet.INSTRUMENTS)
    length = wavenet.receptive_field() + wavenet_training.SCORED + 50
    monkeypatch.setattr(
        wavenet_training,
        "training_notes",
        lambda: (  # no rendered notes needed
            rng.integers(0, 256, (count, length)),
            np.arange(count),
            np.zeros(count, np.int64),
        ),
    )
    monkeypatch.setenv(runs.RUNS_ENV_VAR, str(tmp_path))
    result = wavenet_training.train(epochs=2, max_steps=1)
    assert [entry["epoch"] for entry in result["history"]] == [1, 2]
    assert all(np.isfinite(entry["validation_loss"]) for entry in result["history"])
    # The cosine from LEARNING_RATE to 5% of it over 2 epochs of one step: halfway at epoch 2's start.
    assert result["history"][1]["learning_rate"] == pytest.approx(wavenet_training.LEARNING_RATE * 0.525)
    assert not any(tmp_path.iterdir())
