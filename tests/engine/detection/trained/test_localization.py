"""Classification + localization on single-object scenes: the trade-off of L = a*Lc + (1-a)*Lr."""

import numpy as np
import pytest

from engine.core import registry
from engine.core.errors import InvalidInput
from engine.data import scenes
from engine.detection.trained import localization as scene_localization

# accuracy and mean box IoU of the committed weights on single-object test scenes 0..99, as measured
MEASURED_100 = {
    0.1: {"accuracy": 0.76, "mean_iou": 0.6010},
    0.5: {"accuracy": 0.44, "mean_iou": 0.3601},
    0.9: {"accuracy": 0.14, "mean_iou": 0.2490},
}
MARGIN = 0.01


def test_box_targets_round_trip_and_paired_iou():
    boxes = np.array([[10, 20, 40, 80], [0, 0, 96, 96]], np.float32)
    targets = scene_localization.box_targets(boxes)
    np.testing.assert_allclose(targets[0], [25 / 96, 50 / 96, 30 / 96, 60 / 96], rtol=1e-6)
    np.testing.assert_allclose(scene_localization.corner_boxes(targets), boxes, atol=1e-4)
    shifted = boxes + [15, 0, 15, 0]
    np.testing.assert_allclose(
        scene_localization.paired_iou(boxes, shifted), [15 * 60 / (45 * 60), 81 / 111], rtol=1e-6
    )


def test_bad_alpha_and_unknown_weight_file_are_refused():
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        scene_localization.train(alpha=1.5, epochs=1, max_batches=1)
    with pytest.raises(InvalidInput, match="classloc_a0.1.npz"):
        scene_localization.alpha_of("yolo.npz")


@pytest.mark.parametrize("alpha", scene_localization.ALPHAS)
def test_committed_weights_reach_their_figures_on_100_test_scenes(alpha):
    model = registry.load(f"classloc-a{alpha}").model
    assert model.alpha == alpha
    figures = scene_localization.evaluate_model(model, 100)
    assert figures["accuracy"] >= MEASURED_100[alpha]["accuracy"] - MARGIN
    assert figures["mean_iou"] >= MEASURED_100[alpha]["mean_iou"] - MARGIN
    found = model.predict(scenes.scene("test", 0, single=True).image[None])[0]
    assert len(found.boxes) == 1 and 0 <= found.scores[0] <= 1
    assert np.all(found.boxes >= 0) and np.all(found.boxes <= scenes.SIZE)


def test_tradeoff_table_reads_the_stored_figures():
    rows = scene_localization.tradeoff_table()
    assert [row["a"] for row in rows] == list(scene_localization.ALPHAS)
    for row in rows:
        assert 0 <= row["accuracy"] <= 1 and 0 <= row["mean_iou"] <= 1 and row["scenes"] == scenes.TEST_SCENES
        assert f"{row['accuracy']:.4f}" in row["metric"]  # the manifest line agrees with the history file


@pytest.mark.training
def test_a_tiny_run_trains_into_its_run_folder_and_promotes(tmp_path, monkeypatch, assets_dir):
    import json

    from engine.core import manifest, runs

    monkeypatch.setattr(scene_localization, "VALIDATION_SCENES", 8)
    evaluate = scene_localization.evaluate_model
    monkeypatch.setattr(scene_localization, "evaluate_model", lambda model: evaluate(model, count=8))
    result = scene_localization.train(alpha=0.1, epochs=2, train_scenes=64, run="tiny")
    assert result["a"] == 0.1 and [entry["epoch"] for entry in result["history"]] == [1, 2]
    assert result["scenes"] == 8 and 0 <= result["mean_iou"] <= 1
    assert not any(assets_dir.iterdir())  # training wrote nothing under assets/
    promoted = runs.promote("classloc-a0.1", "tiny")
    assert promoted["files"] == [
        "scene_detection/classloc_a0.1.npz",
        "scene_detection/classloc_a0.1.history.json",
    ]
    line = manifest.entries()["scene_detection/classloc_a0.1.npz"]
    assert line["metric"].startswith("single-object test scenes (8): accuracy")
    assert "--epochs 2 (best of 2 epochs on 8 validation scenes" in line["how"]
    stored = json.loads((assets_dir / "scene_detection" / "classloc_a0.1.history.json").read_text())
    assert stored["a"] == 0.1 and stored["test"]["scenes"] == 8 and len(stored["history"]) == 2
