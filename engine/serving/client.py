"""Run models on a TensorFlow Serving server instead of in-process.

Whoever starts the app sets `CONVNET_STUDIO_SERVING_URL` to the server's REST address (e.g.
`http://localhost:8501`, TF Serving's `--rest_api_port`). `registry.load` then builds the models whose
entry in engine/core/entries.py names a `remote` client (one of the functions at the end of this
module) as thin REST clients of that server (the weight source the pages show becomes
"TF Serving ..."); every other model stays in-process. Each served model must have been exported
with `python -m engine export NAME` into a model base path the server serves under the same NAME.

The REST call is TF Serving's predict API in its columnar form: `POST URL/v1/models/NAME:predict`
with `{"signature_name": ..., "inputs": {input name: nested list}}`, answered by
`{"outputs": {output name: nested list}}` (a bare list when the signature has one output).
Standard library only (urllib), so the client needs no TensorFlow.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import numpy as np

from engine.core import entries
from engine.core.errors import ModelUnavailable

SERVING_URL_ENV_VAR = "CONVNET_STUDIO_SERVING_URL"  # set by whoever runs the server, never by a visitor
TIMEOUT_SECONDS = 30.0  # per request


def serving_url() -> str | None:
    """The configured TF Serving REST address without a trailing slash, or None (in-process)."""
    url = os.environ.get(SERVING_URL_ENV_VAR, "").strip().rstrip("/")
    return url or None


class ServingClient:
    """One model on a TF Serving server: `predict(inputs)` -> outputs, as NumPy arrays."""

    def __init__(self, url: str, model: str, timeout: float = TIMEOUT_SECONDS):
        self.url, self.model, self.timeout = url.rstrip("/"), model, timeout

    @property
    def endpoint(self) -> str:
        return f"{self.url}/v1/models/{self.model}:predict"

    def check_available(self) -> None:
        """TF Serving's model status API (GET URL/v1/models/NAME): some version must be AVAILABLE.

        Raises:
            ModelUnavailable: no answer, or the server does not serve this model (yet).
        """
        answer = self._call(urllib.request.Request(f"{self.url}/v1/models/{self.model}"))
        states = (
            [entry.get("state") for entry in answer.get("model_version_status", [])]
            if isinstance(answer, dict)
            else []
        )
        if "AVAILABLE" not in states:
            raise ModelUnavailable(
                f"TF Serving at {self.url} has no available version of {self.model} "
                f"(states: {', '.join(map(str, states)) or 'none'})."
            )

    def predict(
        self, inputs: dict[str, np.ndarray], signature: str = "serving_default"
    ) -> dict[str, np.ndarray]:
        """Outputs of a signature by name (a one-output signature's answer is keyed "output").

        Raises:
            ModelUnavailable: the server cannot be reached, or it refused the request (its message).
        """
        body = json.dumps(
            {
                "signature_name": signature,
                "inputs": {name: np.asarray(value).tolist() for name, value in inputs.items()},
            }
        ).encode()
        answer = self._call(
            urllib.request.Request(self.endpoint, data=body, headers={"Content-Type": "application/json"})
        )
        outputs = answer.get("outputs") if isinstance(answer, dict) else None
        if outputs is None:
            raise ModelUnavailable(f"TF Serving at {self.url} answered {self.model} without outputs.")
        if not isinstance(outputs, dict):
            outputs = {"output": outputs}
        return {name: np.asarray(value) for name, value in outputs.items()}

    def _call(self, request: urllib.request.Request):
        """The JSON answer of one request, errors turned into ModelUnavailable with what to do."""
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")[:300]
            raise ModelUnavailable(
                f"TF Serving refused {self.model} ({error.code}: {detail}). Export it with "
                f"`python -m engine export {self.model}` into the model base path the server "
                f"serves as {self.model}."
            ) from error
        except (urllib.error.URLError, OSError, ValueError) as error:  # refused, timed out, not JSON
            raise ModelUnavailable(
                f"No answer from TF Serving at {self.url} for {self.model} ({error}). Start the "
                f"server, or unset {SERVING_URL_ENV_VAR} to run the models in-process."
            ) from error


class RemoteSceneDetector:
    """A trained-here scene detector served by TF Serving (signature: engine/serving/modules.py),
    with the in-process detector's `predict` and `find`. R-CNN and Fast R-CNN search their
    proposals here (OpenCV) and send them with the images."""

    def __init__(self, client: ServingClient, sends_proposals: bool):
        from engine.detection.trained import common as scene_detectors

        self.client, self.sends_proposals = client, sends_proposals
        self.labels = scene_detectors.LABELS

    def predict(self, images: np.ndarray) -> list:
        from engine.detection.trained import proposals as scene_proposals
        from engine.ops import metrics

        images = np.asarray(images, np.uint8)
        inputs = {"images": images}
        if self.sends_proposals:
            proposals = [
                np.asarray(scene_proposals.selective_search(image), np.float32).reshape(-1, 4)
                for image in images
            ]
            padded = np.zeros((len(images), max(1, max(len(found) for found in proposals)), 4), np.float32)
            for row, found in enumerate(proposals):
                padded[row, : len(found)] = found
            inputs.update(
                proposals=padded, proposal_counts=np.array([len(found) for found in proposals], np.int32)
            )
        outputs = self.client.predict(inputs)
        results = []
        for image in range(len(images)):
            count = int(outputs["num_detections"][image])
            results.append(
                metrics.ImageDetections(
                    outputs["detection_boxes"][image, :count].astype(np.float32),
                    outputs["detection_scores"][image, :count].astype(np.float32),
                    outputs["detection_classes"][image, :count].astype(np.int64),
                )
            )
        return results

    def find(self, pixels, settings, on_progress, should_stop):
        """The detection page's Detector protocol, as scene_detectors.SceneDetector gives in-process."""
        from engine.detection.trained import common as scene_detectors

        return scene_detectors.SceneDetector(self.predict).find(pixels, settings, on_progress, should_stop)


# The models' `remote` references in engine/core/entries.py: client -> a drop-in model.


def scene_detector(client: ServingClient) -> RemoteSceneDetector:
    """Faster R-CNN, Mask R-CNN: the scene goes to the server as it is."""
    return RemoteSceneDetector(client, sends_proposals=False)


def scene_detector_with_proposals(client: ServingClient) -> RemoteSceneDetector:
    """R-CNN, Fast R-CNN: selective search runs here, its proposals go with the scene."""
    return RemoteSceneDetector(client, sends_proposals=True)


def remote_names() -> tuple[str, ...]:
    """Models the app can run on a TF Serving server (those with a `remote` entry in the table)."""
    return tuple(entry.name for entry in entries.MODELS if entry.remote)


def served_address(name: str) -> str | None:
    """Where `name` is served when CONVNET_STUDIO_SERVING_URL is set and the app can use it remotely."""
    url = serving_url()
    return f"{url}/v1/models/{name}" if url and name in remote_names() else None


def build_remote(spec, source):
    """registry builder for a "served" WeightSource (reference: URL/v1/models/NAME)."""
    url, _, name = source.reference.rpartition("/v1/models/")
    client = ServingClient(url, name)
    client.check_available()  # fail at load, with the reason, rather than on the first image
    return entries.resolve(entries.by_name()[spec.name].remote)(client)
