"""Which device runs the models: the GPU's name when TensorFlow sees one, else the CPU.

TensorFlow takes seconds to import, so `describe_device` only asks it when it is already loaded;
before that it asks `nvidia-smi`, which answers in milliseconds, so the home page stays fast.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys


@functools.lru_cache(maxsize=1)
def _nvidia_smi_gpus() -> tuple[str, ...]:
    if shutil.which("nvidia-smi") is None:
        return ()
    try:
        result = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return tuple(line.strip() for line in result.stdout.splitlines() if line.strip())


def tensorflow_gpus() -> list[str]:
    """GPUs TensorFlow can place models on (imports TensorFlow)."""
    import tensorflow as tf

    return [device.name for device in tf.config.list_physical_devices("GPU")]


def describe_device() -> str:
    """A short label such as 'GPU: NVIDIA H200' or 'CPU (no GPU found)'."""
    if "tensorflow" in sys.modules:
        if tensorflow_gpus():
            names = _nvidia_smi_gpus()
            return f"GPU: {names[0]}" if names else "GPU (TensorFlow)"
        return "CPU (TensorFlow sees no GPU)"
    names = _nvidia_smi_gpus()
    return f"GPU: {names[0]}" if names else "CPU (no GPU found)"
