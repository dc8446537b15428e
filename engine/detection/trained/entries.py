"""Registry entries of the detectors trained here on the scenes (see engine/detection/trained/common.py).

One `register_detector` line per model; the model code lives in its own module.
"""

from __future__ import annotations

from engine.detection.trained.common import register_detector

# register_detector(name, title, weights file under assets/, paper, "engine.<module>")
for _alpha in (0.1, 0.5, 0.9):  # classification + localization, L = a*Lc + (1-a)*Lr (engine/detection/trained/localization.py)
    register_detector(f"classloc-a{_alpha}", f"Classification + localization, a = {_alpha} (scenes, one object)",
                      f"scene_detection/classloc_a{_alpha}.npz", "Sermanet et al., OverFeat, ICLR 2014",
                      "engine.detection.trained.localization", train_options={"alpha": _alpha})
register_detector("yolo", "YOLO-style single shot (scenes: 12 x 12 grid, 2 boxes per cell)", "scene_detection/yolo.npz",
                  "Redmon et al., You Only Look Once, CVPR 2016", "engine.detection.trained.yolo")
register_detector("faster-rcnn", "Faster R-CNN (scenes: RPN with 9 anchors per cell, ROI Align head)",
                  "scene_detection/faster_rcnn.npz", "Ren, He, Girshick & Sun, Faster R-CNN, NeurIPS 2015",
                  "engine.detection.trained.faster_rcnn", train_options={"name": "faster-rcnn"})
register_detector("mask-rcnn", "Mask R-CNN (scenes: Faster R-CNN + a 28 x 28 mask per ROI; boxes shown here)",
                  "scene_detection/mask_rcnn.npz", "He, Gkioxari, Dollar & Girshick, Mask R-CNN, ICCV 2017",
                  "engine.detection.trained.faster_rcnn", train_options={"name": "mask-rcnn"})
register_detector("rcnn", "R-CNN (scenes: selective search, each region warped to 32 x 32 and classified, box regression)",
                  "scene_detection/rcnn.npz", "Girshick, Donahue, Darrell & Malik, R-CNN, CVPR 2014", "engine.detection.trained.rcnn")
register_detector("fast-rcnn", "Fast R-CNN (scenes: selective search, backbone once per scene, 4 x 4 ROI max pooling)",
                  "scene_detection/fast_rcnn.npz", "Girshick, Fast R-CNN, ICCV 2015", "engine.detection.trained.fast_rcnn")
