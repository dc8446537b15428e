"""What the scene detectors' training Tasks share (engine/detection/trained/task.py): validation mAP@0.5."""

import numpy as np
import pytest

from engine.data import scenes
from engine.detection.trained import common, faster_rcnn, yolo
from engine.ops import metrics


class Perfect:
    """Predicts each validation scene's true boxes (so mAP@0.5 is 1) and records what it was shown."""

    def __init__(self):
        self.seen = 0

    def predict(self, images):
        truth = [scenes.scene("validation", self.seen + index) for index in range(len(images))]
        self.seen += len(images)
        return [metrics.ImageDetections(item.boxes, np.ones(len(item.boxes)), item.labels) for item in truth]


@pytest.mark.parametrize(
    "task, count",
    [
        (yolo.YoloTask(), yolo.VALIDATION_SCENES),
        (faster_rcnn.DetectorTask("faster-rcnn"), faster_rcnn.VALIDATION_SCENES),
        (faster_rcnn.DetectorTask("mask-rcnn"), faster_rcnn.VALIDATION_SCENES),
    ],
)
def test_validate_is_map50_on_the_detectors_validation_scenes(task, count, monkeypatch):
    calls = []

    def evaluate(predict, scene_count, split):
        calls.append((scene_count, split))
        return {"map50": 0.25}

    monkeypatch.setattr(common, "evaluate", evaluate)
    task.model = Perfect()
    assert task.validate() == {"validation_map50": 0.25}
    assert calls == [(count, "validation")]  # never test scenes


def test_validate_measures_the_models_predictions():
    task = yolo.YoloTask()
    task.validation_scenes = 4  # a few scenes: the figure, not the count, is what this checks
    task.model = Perfect()
    assert task.validate() == {"validation_map50": pytest.approx(1.0)}
    assert task.model.seen == 4
