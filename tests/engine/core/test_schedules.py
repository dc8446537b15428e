"""Learning-rate schedules (engine/core/schedules.py) against their formulas and Keras' own schedules."""

import math

import pytest

from engine.core import schedules
from engine.core.errors import InvalidInput


def test_schedules_match_their_formulas():
    cosine = schedules.cosine(1e-3, alpha=0.05)
    assert cosine.rate(0, 10, 8) == pytest.approx(1e-3)
    assert cosine.rate(40, 10, 8) == pytest.approx(1e-3 * (0.95 * 0.5 + 0.05))
    assert cosine.rate(80, 10, 8) == pytest.approx(5e-5)
    held = schedules.cosine(1e-3, per_epoch=True)
    assert (
        held.rate(19, 10, 4)
        == held.rate(10, 10, 4)
        == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi / 4)))
    )
    assert schedules.exponential(1e-3, 0.9).rate(25, 10, 8) == pytest.approx(1e-3 * 0.81)
    assert schedules.constant(2e-3).rate(99, 10, 8) == 2e-3
    keras_cosine = cosine.for_optimizer(10, 8)
    assert float(keras_cosine(40)) == pytest.approx(cosine.rate(40, 10, 8), rel=1e-6)
    with pytest.raises(InvalidInput):
        schedules.Schedule("triangular")


def test_a_restarted_cosine_spans_only_the_epochs_the_run_adds():
    whole, restarted = schedules.cosine(1e-3), schedules.restarted_cosine(1e-3)
    assert restarted.rate(20, 10, 4, first_epoch=2) == pytest.approx(1e-3)  # starts again at the peak
    assert whole.rate(20, 10, 4, first_epoch=2) == pytest.approx(5e-4)  # halfway down the whole run's cosine
    shifted = restarted.for_optimizer(10, 4, first_epoch=2)
    for step in (20, 25, 39):
        assert float(shifted(step)) == pytest.approx(
            restarted.rate(step, 10, 4, first_epoch=2), rel=1e-5, abs=1e-9
        )


def test_a_schedule_refuses_a_peak_that_is_not_positive():
    with pytest.raises(InvalidInput, match="must be positive"):
        schedules.constant(0.0)
