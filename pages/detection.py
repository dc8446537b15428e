"""Object detection on your photo or a generated scene: pretrained detectors and the R-CNN family and YOLO
trained here."""

import hashlib
import json

import pandas as pd
import streamlit as st

from engine.core import media, registry
from engine.detection import api as detection
from ui import detection as widgets
from ui.errors import user_errors
from ui.models import get_model
from ui.shell import ensure_app_shell

RCNN = "selective-search-efficientnet"

ensure_app_shell()
st.title("Object detection")
st.caption(
    "A detector answers *what* and *where*: a label, a score and a box per object. On photos, offline: the "
    "SSDLite person detector, the BlazeFace (short and full range), MTCNN and Haar face detectors, an "
    "R-CNN-style pipeline (selective search proposals classified by EfficientNet-Lite0) and a main-object "
    "localizer. Trained here on generated scenes of digits and clothing: classification + localization, "
    "R-CNN, Fast R-CNN, Faster R-CNN, Mask R-CNN and YOLO; they only know scenes. With a network: TF Hub's "
    "SSD MobileNet V2 and Faster R-CNN (COCO)."
)
with st.expander("From R-CNN to YOLO in one paragraph"):
    st.markdown(
        "**R-CNN** proposes ~2000 regions (selective search), warps each to the CNN's input and classifies it: "
        "one CNN pass per region. **Fast R-CNN** runs the CNN once and pools each region from the shared "
        "feature map (RoI pooling). **Faster R-CNN** replaces selective search by a *region proposal network* on "
        "the same features. **SSD** and **YOLO** drop proposals altogether: one pass predicts scores and box "
        "offsets for a fixed grid of anchors. All of them end with **non-maximum suppression**: keep the best "
        "box, drop boxes of the same label overlapping it by more than an IoU threshold, repeat."
    )

with st.expander("The detectors trained here and their held-out metrics (500 test scenes)"):
    widgets.trained_models_table()
    st.markdown(
        "**Classification + localization** trains one CNN with two heads on L = a·Lc + (1 − a)·Lr: a "
        "large *a* favours the class, a small one the box. **YOLO** divides the scene into a grid; each "
        "cell predicts boxes with a confidence and the class probabilities, in one pass."
    )

specs = registry.all_specs(detection.TASK)
unavailable = {"project": " (not trained yet)"}
titles = {
    spec.name: spec.title
    + ("" if registry.available_source(spec) else unavailable.get(spec.sources[0].kind, " (needs a network)"))
    for spec in specs
}
left, right = st.columns([1, 1])
with left:
    picked = widgets.pick_input("detection")
    scene = picked.scene if picked else None
    default = widgets.default_detector(scene is not None)
    model_name = st.selectbox(
        "Detector",
        list(titles),
        index=list(titles).index(default),
        format_func=titles.get,
        key=f"detector-{'scene' if scene is not None else 'photo'}",
    )
    # R-CNN starts at its own threshold: its own key, so switching to it resets the slider to 0.8.
    min_score = st.slider(
        "Confidence threshold",
        0.0,
        1.0,
        0.8 if model_name == RCNN else 0.5,
        0.01,
        key="detection-min-score-rcnn" if model_name == RCNN else "detection-min-score",
    )
    iou_threshold = st.slider(
        "NMS IoU threshold",
        0.05,
        1.0,
        0.5,
        0.05,
        key="detection-iou",
        help="A box overlapping a better box of the same label by more than this is dropped; "
        "1 keeps every box.",
    )
    proposals = 300
    if model_name == RCNN:
        proposals = st.slider("Region proposals to classify", 20, 1000, 200, 20, key="detection-proposals")
        st.caption(
            "Slow by design: one EfficientNet pass per region (about 10 ms each here), exactly the cost "
            "Fast R-CNN removed. No background class and no box regression, so expect extra boxes."
        )
    elif model_name == "ssdlite-person":
        st.caption("This graph runs its own NMS at IoU 0.6; the slider only adds a stricter one.")
    if scene is not None:
        st.caption("Ground truth of this scene:")
        st.dataframe(widgets.truth_table(scene), hide_index=True)
if picked is None:
    st.info("Upload a photo or pick a sample to find objects in it.")
    st.stop()

with user_errors():
    pixels, scale = detection.working_image(picked.data)
    loaded = get_model(model_name)
    # Run the model once per (photo, detector, proposals); the sliders then only re-filter its boxes.
    key = (hashlib.sha256(picked.data).hexdigest(), model_name, proposals)
    if st.session_state.get("detection-key") != key:
        bar = st.progress(0.0, "Detecting...")
        raw = detection.detect(
            pixels,
            loaded,
            detection.DetectSettings(0.0, 1.0, proposals),
            scale,
            on_progress=lambda fraction, message, preview=None: bar.progress(fraction, message),
            max_detections=detection.MAX_PROPOSALS_LIMIT,
        )
        bar.empty()
        st.session_state["detection-key"], st.session_state["detection-raw"] = key, raw
    result = detection.refilter(
        st.session_state["detection-raw"], detection.DetectSettings(min_score, iou_threshold, proposals)
    )

zoom = widgets.SCENE_ZOOM if scene is not None else 1
drawn = detection.annotate(widgets.enlarge(pixels) if zoom > 1 else pixels, result, scale * zoom)
with right:
    st.image(
        drawn,
        caption=f"{loaded.spec.title} · {len(result.detections)} found · {result.ms:.0f} ms · "
        f"weights: {result.source}",
        width="stretch",
    )
    if not result.detections:
        st.caption("Nothing above the confidence threshold.")
    table = pd.DataFrame(
        [
            {
                "label": found.label,
                "score": found.score,
                "x0": found.box[0],
                "y0": found.box[1],
                "x1": found.box[2],
                "y1": found.box[3],
            }
            for found in result.detections
        ],
        columns=["label", "score", "x0", "y0", "x1", "y1"],
    )
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "score": st.column_config.ProgressColumn(format="%.3f", min_value=0, max_value=1),
            **{column: st.column_config.NumberColumn(format="%.0f") for column in ("x0", "y0", "x1", "y1")},
        },
    )
    st.caption(
        f"Boxes in pixels of the {result.image_size[0]} x {result.image_size[1]} photo "
        f"(x0, y0 top left; x1, y1 bottom right)."
    )
    columns = st.columns(2)
    columns[0].download_button(
        "Download the annotated photo (PNG)", media.encode_png(drawn), "detections.png", "image/png"
    )
    columns[1].download_button(
        "Download the detections (JSON)",
        json.dumps(result.to_json(), indent=2),
        "detections.json",
        "application/json",
    )

if scene is not None:
    with st.expander("Family speed: R-CNN, Fast R-CNN and Faster R-CNN on this scene"):
        widgets.speed_panel(pixels)
