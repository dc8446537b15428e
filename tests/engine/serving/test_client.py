"""CONVNET_STUDIO_SERVING_URL: the registry builds the R-CNN family as REST clients of a model server.

The server here is a small stand-in for TF Serving's REST API (model status and columnar predict)
that runs the exported SavedModels as TF Serving loads them (serving.SessionModel); the real server
is not installable on these machines.
"""

import http.server
import json
import re
import socket
import threading

import numpy as np
import pytest

from engine.core import registry
from engine.core.errors import InvalidInput, ModelUnavailable
from engine.data import scenes
from engine.detection import api as detection
from engine.serving import client
from engine.serving import export as serving

pytestmark = pytest.mark.usefixtures("offline_models")  # loads fetched model files


class FakeServing(http.server.ThreadingHTTPServer):
    """GET /v1/models/NAME and POST /v1/models/NAME:predict over SavedModels loaded in this process
    as TF Serving loads them (serving.SessionModel: TF1 session, SignatureDef tensor names)."""

    def __init__(self, models: dict):
        self.models = models  # name -> serving.SessionModel
        super().__init__(("127.0.0.1", 0), FakeServingHandler)


class FakeServingHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def _answer(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        name = self.path.removeprefix("/v1/models/")
        if name in self.server.models:
            self._answer(200, {"model_version_status": [{"version": "1", "state": "AVAILABLE"}]})
        else:
            self._answer(404, {"error": f"Servable not found for request: Latest({name})"})

    def do_POST(self):
        match = re.fullmatch(r"/v1/models/([\w.-]+):predict", self.path)
        if not match or match[1] not in self.server.models:
            self._answer(404, {"error": f"Servable not found: {self.path}"})
            return
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        try:
            outputs = self.server.models[match[1]].predict(
                request["inputs"], request.get("signature_name", "serving_default")
            )
        except (KeyError, InvalidInput) as error:
            self._answer(400, {"error": str(error)[:200]})
            return
        self._answer(200, {"outputs": {name: value.tolist() for name, value in outputs.items()}})


@pytest.fixture(scope="module")
def model_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("models")
    models = {
        name: serving.SessionModel(serving.export(name, base / name).path) for name in ("faster-rcnn", "rcnn")
    }
    server = FakeServing(models)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _served(name: str, url: str, monkeypatch) -> registry.LoadedModel:
    """registry.load(name) with the variable set, this test's load kept out of the process's cache."""
    monkeypatch.setenv(client.SERVING_URL_ENV_VAR, url)
    monkeypatch.setattr(registry, "LOAD_COUNTS", dict(registry.LOAD_COUNTS))
    monkeypatch.delitem(registry._LOADED, name, raising=False)
    return registry.load(name)


@pytest.mark.parametrize("name", ["faster-rcnn", "rcnn"])
def test_detection_through_the_model_server_equals_in_process(name, model_server, monkeypatch):
    from engine.detection.trained import proposals as scene_proposals

    pixels = scenes.scene("test", 7).image
    # OpenCV's selective search can give other boxes on a second call (its random state moves on), so
    # both runs get the same proposals: the comparison is of the models, not of the search.
    proposals = scene_proposals.selective_search(pixels)
    monkeypatch.setattr(scene_proposals, "selective_search", lambda image, limit=None: proposals)
    settings = detection.DetectSettings(min_score=0.3)
    local = detection.detect(pixels, registry.load(name), settings)
    loaded = _served(name, model_server, monkeypatch)
    assert loaded.source.kind == "served" and type(loaded.model).__name__ == "RemoteSceneDetector"
    remote = detection.detect(pixels, loaded, settings)
    assert remote.source == f"TF Serving {model_server}/v1/models/{name}"
    assert len(remote.detections) == len(local.detections) >= 2
    for served, expected in zip(remote.detections, local.detections):
        assert served.label == expected.label and abs(served.score - expected.score) < 1e-5
        np.testing.assert_allclose(served.box, expected.box, atol=1e-3)


def test_an_unreachable_server_or_missing_model_is_a_clear_error(model_server, monkeypatch):
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{unused.getsockname()[1]}"
    with pytest.raises(
        ModelUnavailable, match=f"No answer from TF Serving at {closed}.*unset {client.SERVING_URL_ENV_VAR}"
    ):
        _served("fast-rcnn", closed, monkeypatch)
    with pytest.raises(
        ModelUnavailable, match="TF Serving refused fast-rcnn.*python -m engine export fast-rcnn"
    ):
        _served("fast-rcnn", model_server, monkeypatch)  # this server has no fast-rcnn


def test_models_without_a_remote_client_stay_in_process(model_server, monkeypatch):
    loaded = _served("yolo", model_server, monkeypatch)
    assert loaded.source.kind == "project"
    assert client.served_address("yolo") is None
    assert client.served_address("mask-rcnn") == f"{model_server}/v1/models/mask-rcnn"
    monkeypatch.delenv(client.SERVING_URL_ENV_VAR)
    assert client.served_address("faster-rcnn") is None
