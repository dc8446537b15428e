"""Object detection: photo detectors from packages, and the R-CNN family, YOLO and localization trained here (trained/)."""
