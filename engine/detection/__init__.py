"""Object detection: photo detectors from packages.

`trained/`: the R-CNN family, YOLO and classification + localization, trained here on the scenes.
"""
