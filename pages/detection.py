"""Object detection on your photo: pretrained person, face and ImageNet-class detectors."""

import hashlib
import json

import pandas as pd
import streamlit as st

from engine import detection, media, registry
from ui.errors import user_errors
from ui.inputs import image_source
from ui.models import get_model
from ui.shell import ensure_app_shell

RCNN = "selective-search-efficientnet"

ensure_app_shell()
st.title("Object detection")
st.caption("A detector answers *what* and *where*: a label, a score and a box per object. Here, offline: the "
           "SSDLite person detector, the BlazeFace (short and full range), MTCNN and Haar face detectors, and an "
           "R-CNN-style pipeline (selective search proposals classified by EfficientNet-Lite0). With a network: "
           "TF Hub's SSD MobileNet V2 and Faster R-CNN (COCO).")
st.warning("Not built yet: the chapter's detectors trained here on generated scenes (classification + "
           "localization, R-CNN, Fast R-CNN, Faster R-CNN, YOLO). They will join this list when trained.",
           icon=":material/construction:")
with st.expander("From R-CNN to YOLO in one paragraph"):
    st.markdown(
        "**R-CNN** proposes ~2000 regions (selective search), warps each to the CNN's input and classifies it: "
        "one CNN pass per region. **Fast R-CNN** runs the CNN once and pools each region from the shared "
        "feature map (RoI pooling). **Faster R-CNN** replaces selective search by a *region proposal network* on "
        "the same features. **SSD** and **YOLO** drop proposals altogether: one pass predicts scores and box "
        "offsets for a fixed grid of anchors. All of them end with **non-maximum suppression**: keep the best "
        "box, drop boxes of the same label overlapping it by more than an IoU threshold, repeat.")

specs = registry.all_specs(detection.TASK)
titles = {spec.name: spec.title + ("" if registry.available_source(spec) else " (needs a network)") for spec in specs}
left, right = st.columns([1, 1])
with left:
    model_name = st.selectbox("Detector", list(titles), format_func=titles.get)
    min_score = st.slider("Confidence threshold", 0.0, 1.0, 0.8 if model_name == RCNN else 0.5, 0.01)
    iou_threshold = st.slider("NMS IoU threshold", 0.05, 1.0, 0.5, 0.05,
                              help="A box overlapping a better box of the same label by more than this is dropped; "
                                   "1 keeps every box.")
    proposals = 300
    if model_name == RCNN:
        proposals = st.slider("Region proposals to classify", 20, 1000, 200, 20)
        st.caption("Slow by design: one EfficientNet pass per region (about 10 ms each here), exactly the cost "
                   "Fast R-CNN removed. No background class and no box regression, so expect extra boxes.")
    elif model_name == "ssdlite-person":
        st.caption("This graph runs its own NMS at IoU 0.6; the slider only adds a stricter one.")
    picked = image_source("detection")
if picked is None:
    st.info("Upload a photo or pick a sample to find objects in it.")
    st.stop()

with user_errors():
    pixels, scale = detection.working_image(picked[1])
    loaded = get_model(model_name)
    # Run the model once per (photo, detector, proposals); the sliders then only re-filter its boxes.
    key = (hashlib.sha256(picked[1]).hexdigest(), model_name, proposals)
    if st.session_state.get("detection-key") != key:
        bar = st.progress(0.0, "Detecting...")
        raw = detection.detect(pixels, loaded, detection.DetectSettings(0.0, 1.0, proposals), scale,
                               on_progress=lambda fraction, message, preview=None: bar.progress(fraction, message),
                               max_detections=detection.MAX_PROPOSALS_LIMIT)
        bar.empty()
        st.session_state["detection-key"], st.session_state["detection-raw"] = key, raw
    result = detection.refilter(st.session_state["detection-raw"],
                                detection.DetectSettings(min_score, iou_threshold, proposals))

drawn = detection.annotate(pixels, result, scale)
with right:
    st.image(drawn, caption=f"{loaded.spec.title} · {len(result.detections)} found · {result.ms:.0f} ms · "
                            f"weights: {result.source}", width="stretch")
    if not result.detections:
        st.caption("Nothing above the confidence threshold.")
    table = pd.DataFrame([{"label": found.label, "score": found.score, "x0": found.box[0], "y0": found.box[1],
                           "x1": found.box[2], "y1": found.box[3]} for found in result.detections],
                         columns=["label", "score", "x0", "y0", "x1", "y1"])
    st.dataframe(table, hide_index=True, column_config={
        "score": st.column_config.ProgressColumn(format="%.3f", min_value=0, max_value=1),
        **{column: st.column_config.NumberColumn(format="%.0f") for column in ("x0", "y0", "x1", "y1")}})
    st.caption(f"Boxes in pixels of the {result.image_size[0]} x {result.image_size[1]} photo "
               f"(x0, y0 top left; x1, y1 bottom right).")
    columns = st.columns(2)
    columns[0].download_button("Download the annotated photo (PNG)", media.encode_png(drawn), "detections.png",
                               "image/png")
    columns[1].download_button("Download the detections (JSON)", json.dumps(result.to_json(), indent=2),
                               "detections.json", "application/json")
