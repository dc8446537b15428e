"""Loading model files: TFLite flatbuffers, Keras files and TF Hub models.

TFLite models run on the CPU through XNNPACK; we prefer the standalone `ai-edge-litert` runtime
(imports in 0.1 s, no TensorFlow) and fall back to `tf.lite.Interpreter`. An interpreter is not
thread-safe, and Streamlit serves every session from threads of one process, so each wrapper holds
a lock around set-input / invoke / read-output.

Keras and TF Hub models run in TensorFlow, which places them on the GPU by itself when one exists.
"""

from __future__ import annotations

import os
import pathlib
import re
import threading
import zipfile

import numpy as np

from engine.core.errors import InvalidInput, ModelUnavailable

TFLITE_THREADS = max(1, min(4, os.cpu_count() or 1))  # XNNPACK threads per interpreter


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # Fall back to the copy inside TensorFlow (deprecated there).
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter


class TFLiteModel:
    """A TFLite interpreter with one input, guarded by a lock for use from many threads."""

    def __init__(self, path: pathlib.Path, num_threads: int = TFLITE_THREADS):
        self.path = pathlib.Path(path)
        try:
            self.interpreter = _interpreter_class()(model_path=str(self.path), num_threads=num_threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise ModelUnavailable(
                f"{self.path.name} is not a valid TFLite model ({error}). Fetch it "
                "again with `python -m engine assets fetch`."
            ) from error
        self.input_detail = self.interpreter.get_input_details()[0]
        self.output_details = self.interpreter.get_output_details()
        # Re-entrant: a wrapper may hold it while filling its input buffer, then call run().
        self.lock = threading.RLock()

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(size) for size in self.input_detail["shape"])

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self.input_detail["dtype"])

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Invoke on one input batch; returns every output, dequantized to float32."""
        with self.lock:
            self.interpreter.set_tensor(self.input_detail["index"], batch)
            self.interpreter.invoke()
            raw = [self.interpreter.get_tensor(detail["index"]) for detail in self.output_details]
        return [_dequantize(values, detail) for values, detail in zip(raw, self.output_details)]

    def metadata_file(self, name_suffix: str) -> str | None:
        """Text of a file packed in the model's metadata (TFLite metadata is a zip appended)."""
        try:
            with zipfile.ZipFile(self.path) as bundle:
                for member in bundle.namelist():
                    if member.endswith(name_suffix):
                        return bundle.read(member).decode("utf-8")
        except zipfile.BadZipFile:
            return None
        return None


def _dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if values.dtype in (np.uint8, np.int8) and scale:
        return (values.astype(np.float32) - zero_point) * scale
    return values.astype(np.float32, copy=False)


def load_keras_file(path: pathlib.Path, compile: bool = False):
    """Load a Keras 3 `.keras` or `.h5` file."""
    import keras

    try:
        return keras.models.load_model(str(path), compile=compile)
    except (OSError, ValueError, TypeError) as error:
        raise ModelUnavailable(
            f"Could not load the Keras model {pathlib.Path(path).name}: {error}"
        ) from error


def is_hub_handle(reference: str) -> bool:
    """True for a hub URL (tfhub.dev or Kaggle Models), False for a local path."""
    return reference.startswith(
        ("https://tfhub.dev/", "https://www.kaggle.com/models/", "https://kaggle.com/models/")
    )


MODEL_DIR_ENV_VAR = "CONVNET_STUDIO_MODEL_DIR"  # the only folder user-named SavedModels are read from
HUB_HANDLE_PATTERN = re.compile(r"https://(tfhub\.dev|(www\.)?kaggle\.com/models)/[A-Za-z0-9._~/-]+")


def user_model_reference(reference: str) -> str:
    """A model reference typed by a user, checked before anything is loaded: a TF Hub or Kaggle
    Models handle, or a SavedModel folder inside `$CONVNET_STUDIO_MODEL_DIR` (symbolic links
    resolved). Any other path, URL scheme or host is refused, so a visitor of a shared app can
    never make the server read a folder of its choosing.

    Returns:
        The handle, or the resolved folder as a string.
    Raises:
        InvalidInput: anything else, with what is accepted.
    """
    reference = reference.strip()
    if HUB_HANDLE_PATTERN.fullmatch(reference) and ".." not in reference.split("/"):
        return reference
    if "://" in reference or reference.startswith(("http", "gs:", "file:")):
        raise InvalidInput(
            "Only TF Hub handles (https://tfhub.dev/...) and Kaggle Models handles "
            "(https://www.kaggle.com/models/...) can be loaded from the web."
        )
    allowed = os.environ.get(MODEL_DIR_ENV_VAR)
    if not allowed:
        raise InvalidInput(
            "Local SavedModel folders are turned off on this server. Give a TF Hub handle "
            f"(https://tfhub.dev/...), or start the server with {MODEL_DIR_ENV_VAR} set to "
            "the folder that holds your models."
        )
    root = pathlib.Path(allowed).expanduser().resolve()
    folder = (root / reference).resolve()  # an absolute reference replaces root; checked next
    if not folder.is_relative_to(root):
        raise InvalidInput(
            f"'{reference}' is outside the model folder this server allows; give the name "
            f"of a folder inside {MODEL_DIR_ENV_VAR}."
        )
    return str(folder)


def check_saved_model_folder(reference: str) -> pathlib.Path:
    """A local SavedModel folder, checked to look like one before TensorFlow touches it."""
    folder = pathlib.Path(reference).expanduser()
    if not folder.is_dir() or not (folder / "saved_model.pb").is_file():
        raise ModelUnavailable(
            f"'{reference}' is not a SavedModel folder (a folder holding "
            "saved_model.pb). Give a TF Hub handle or such a folder."
        )
    return folder


def load_hub_layer(reference: str, input_shape: tuple[int, int, int]):
    """A `tf_keras` model wrapping `hub.KerasLayer`, as in the chapter's TF Hub example.

    Args:
        reference: a TF Hub handle (needs a network) or a local SavedModel folder.
        input_shape: (height, width, channels) of the model's image input.
    Raises:
        ModelUnavailable: the handle cannot be reached or the folder is not a SavedModel.
    """
    if not is_hub_handle(reference):
        reference = str(check_saved_model_folder(reference))
    import tensorflow_hub as hub
    import tf_keras

    try:
        model = tf_keras.Sequential([hub.KerasLayer(reference, input_shape=input_shape)])
    except Exception as error:  # hub raises many types (URLError, OSError, ValueError, ...)
        raise ModelUnavailable(
            f"Could not load '{reference}' from TF Hub: {type(error).__name__}. "
            "Hub models need a network connection; without one, use the "
            "offline default."
        ) from error
    return model
