"""Learning-rate schedules over a run's steps, for the one Trainer (engine/core/training.py).

Constant, exponential (x `decay` per epoch), and a half cosine from a peak down to `alpha` x peak, either
over the whole log's epochs or restarted at a given peak over the epochs a resumed run adds, as in SGDR
(Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017). `rate` gives
the figure the Trainer logs; `for_optimizer` gives Keras' own CosineDecay / ExponentialDecay, so the
rates are the ones the trainers used before they shared this.
"""

from __future__ import annotations

import dataclasses
import math

from engine.core.errors import InvalidInput


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule over a run's steps.

    kind: "constant", "cosine" (from `peak` to `alpha` x peak) or "exponential" (x `decay` per epoch).
    restart: the cosine spans only the epochs this run adds, starting again at `peak` (a warm restart)
        instead of the whole log's epochs.
    per_epoch: the rate is held for each whole epoch (computed at its start), not changed per step.
    """

    kind: str = "constant"
    peak: float = 1e-3
    alpha: float = 0.0
    decay: float = 1.0
    restart: bool = False
    per_epoch: bool = False

    def __post_init__(self):
        if self.kind not in ("constant", "cosine", "exponential"):
            raise InvalidInput(f"Unknown learning-rate schedule {self.kind!r}.")
        if not self.peak > 0:
            raise InvalidInput(f"A peak learning rate must be positive, not {self.peak}.")

    def _span(self, steps_per_epoch: int, epochs: int, first_epoch: int) -> tuple[int, int]:
        """(first step, number of steps) the cosine runs over."""
        first = first_epoch if self.restart else 0
        return first * steps_per_epoch, max(1, (epochs - first) * steps_per_epoch)

    def rate(self, step: int, steps_per_epoch: int, epochs: int, first_epoch: int = 0) -> float:
        """The learning rate of step `step` (0-based, counted over the whole log) of a run of `epochs` epochs
        resumed after `first_epoch`."""
        if self.per_epoch:
            step -= step % steps_per_epoch
        if self.kind == "constant":
            return self.peak
        if self.kind == "exponential":
            return self.peak * self.decay ** (step // steps_per_epoch)
        origin, span = self._span(steps_per_epoch, epochs, first_epoch)
        fraction = min(max(step - origin, 0), span) / span
        return self.peak * ((1 - self.alpha) * 0.5 * (1 + math.cos(math.pi * fraction)) + self.alpha)

    def for_optimizer(self, steps_per_epoch: int, epochs: int, first_epoch: int = 0):
        """What a Keras optimizer takes as its learning rate: a float, or a schedule of its step count
        (Keras' own CosineDecay / ExponentialDecay, so the rates are the ones the trainers used)."""
        if self.kind == "constant" or self.per_epoch:  # per-epoch rates are assigned by the Trainer
            return self.rate(first_epoch * steps_per_epoch, steps_per_epoch, epochs, first_epoch)
        import keras

        if self.kind == "exponential":
            return keras.optimizers.schedules.ExponentialDecay(
                self.peak, steps_per_epoch, self.decay, staircase=True
            )
        origin, span = self._span(steps_per_epoch, epochs, first_epoch)
        cosine = keras.optimizers.schedules.CosineDecay(self.peak, span, alpha=self.alpha)
        return _shifted(cosine, origin) if origin else cosine

    def describe(self) -> dict:
        return dataclasses.asdict(self)


def constant(rate: float) -> Schedule:
    return Schedule("constant", rate)


def cosine(peak: float, alpha: float = 0.0, per_epoch: bool = False) -> Schedule:
    """A half cosine from `peak` down to `alpha` x peak over the whole run."""
    return Schedule("cosine", peak, alpha=alpha, per_epoch=per_epoch)


def restarted_cosine(peak: float, alpha: float = 0.0, per_epoch: bool = False) -> Schedule:
    """A half cosine from `peak` over the epochs this (resumed) run adds: `--peak-learning-rate`."""
    return Schedule("cosine", peak, alpha=alpha, restart=True, per_epoch=per_epoch)


def exponential(peak: float, decay_per_epoch: float) -> Schedule:
    return Schedule("exponential", peak, decay=decay_per_epoch)


def _shifted(schedule, origin: int):
    """`schedule` read `origin` steps late: a cycle's cosine that starts at the resumed step."""
    import keras

    class Shifted(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            return schedule(keras.ops.maximum(keras.ops.cast(step, "float32") - origin, 0.0))

        def get_config(self):
            return {"origin": origin, "schedule": schedule.get_config()}

    return Shifted()
