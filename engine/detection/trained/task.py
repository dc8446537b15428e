"""What the training Tasks of the scene detectors share (YOLO, R-CNN, Fast R-CNN, Faster / Mask R-CNN).

engine/core/training.py runs their loop; this adds keep-best on validation mAP@0.5 (over the first
`validation_scenes` scenes of the validation split, never test scenes), the run's minutes for the manifest
line, and the training log promoted beside the weights (assets/.../NAME.history.json).
"""

from __future__ import annotations

import json
import pathlib
import time

from engine.core import runs, training
from engine.detection.trained import common


class SceneDetectorTask(training.Task):
    monitor = "validation_map50"
    validation_scenes: int  # each detector sets how many validation scenes pick its best epoch

    def validate(self) -> dict[str, float]:
        """mAP@0.5 of the model's `predict` on the validation scenes (a detector with precomputed proposals,
        R-CNN and Fast R-CNN, overrides this)."""
        figures = common.evaluate(self.model.predict, self.validation_scenes, split="validation")
        return {"validation_map50": figures["map50"]}

    def build_inputs(self, first_epoch: int) -> None:
        self.started = time.perf_counter()

    def minutes(self) -> float:
        """Minutes since the run began (data, proposals and validation included), for the manifest line."""
        return (time.perf_counter() - self.started) / 60

    def history_file(self, figures: dict, history: list[dict]):
        """The contents of the promoted .history.json: the per-epoch log."""
        return history

    def outputs(self, run: runs.Run, figures: dict, history: list[dict], epochs: int) -> list[runs.Output]:
        name = pathlib.PurePosixPath(self.asset).with_suffix(".history.json")
        (run.path / name.name).write_text(json.dumps(self.history_file(figures, history), indent=1))
        return [*super().outputs(run, figures, history, epochs), runs.Output(str(name), name.name)]
