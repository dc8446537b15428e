"""Registry entries of the detectors trained here on the scenes (see engine/scene_detectors.py).

One `register_detector` line per model; the model code lives in its own module.
"""

from __future__ import annotations

from engine.scene_detectors import register_detector

# register_detector(name, title, weights file under assets/, paper, "engine.<module>")
