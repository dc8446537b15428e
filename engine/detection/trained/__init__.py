"""Detectors trained here on the generated scenes: localization, R-CNN, Fast / Faster / Mask R-CNN, YOLO."""
