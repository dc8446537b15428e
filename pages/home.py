"""Home: what ConvNet Studio is, and the chapter's sections mapped to the pages built so far."""

import streamlit as st

from ui.shell import ensure_app_shell

ensure_app_shell()

st.title("ConvNet Studio")
st.markdown(
    "The runnable companion to the *advanced convolutional neural networks* chapter: upload your "
    "own media and watch the chapter's models at work. Every model runs offline on weights that "
    "ship inside registry packages or that this project trained itself; each page says which "
    "model it uses, where its weights came from and how well it scored on held-out data."
)

st.subheader("The chapter, section by section")
# (chapter section, what the page shows, page file). Sections whose pages are not built yet are
# simply not listed.
SECTIONS = [
    (
        "Composing CNNs for complex tasks: classification",
        "Top-5 ImageNet classes of your photo, offline (EfficientNet-Lite0) or from TF Hub as in the "
        "chapter's MobileNetV2 example.",
        "pages/classification.py",
    ),
    (
        "Applications with tf.Keras and TensorFlow Hub",
        "The same page loads a TF Hub handle or a local SavedModel folder through `hub.KerasLayer`.",
        "pages/classification.py",
    ),
    (
        "Composing CNNs for complex tasks: classification and localization",
        "One network, two heads: the class and the box of a scene's object, trained here with the loss "
        "a x classification + (1 - a) x box regression for a = 0.1, 0.5 and 0.9, side by side; on photos, "
        "EfficientNet-Lite0's class boxed by DeepLabV3's largest region.",
        "pages/detection.py",
    ),
    (
        "Composing CNNs for complex tasks: semantic segmentation",
        "Every pixel of your photo labelled by DeepLabV3 (PASCAL VOC classes, atrous convolutions) or the "
        "selfie person mask, with class shares, toggles, background blur and downloads; and a U-Net "
        "(Ronneberger et al. 2015) trained here on generated scenes, shown beside their true label maps.",
        "pages/segmentation.py",
    ),
    (
        "Composing CNNs for complex tasks: object detection",
        "Boxes, labels and scores on your photo from pretrained detectors: SSDLite people, BlazeFace, MTCNN and "
        "Haar faces, and an R-CNN-style selective search + EfficientNet-Lite0 pipeline, with confidence and NMS "
        "sliders and downloads; on generated scenes, the R-CNN family (R-CNN, Fast R-CNN, Faster R-CNN) and a "
        "YOLO-style single-shot detector trained here, with their held-out mAP and a speed panel.",
        "pages/detection.py",
    ),
    (
        "Composing CNNs for complex tasks: instance segmentation",
        "A Mask R-CNN trained here (the Faster R-CNN plus a mask per region) separates the objects of a "
        "generated scene, each in its own colour; on photos, people as SSDLite boxes with the selfie mask "
        "inside each (a pipeline), or TF Hub's Mask R-CNN with a network.",
        "pages/segmentation.py",
    ),
    (
        "Creating a DeepDream network",
        "The chapter's gradient ascent on your photo: octaves, tiled gradients, layers to amplify, "
        "before/after and a PNG download (InceptionV3 as in the chapter when cached, else MobileNetV2).",
        "pages/deepdream.py",
    ),
    (
        "Inspecting what a network has learned",
        "Grad-CAM, activation maps, feature visualization and a small activation atlas of your photos "
        "(after Carter et al., Distill 2019).",
        "pages/learned.py",
    ),
    (
        "Sentiment analysis with CNNs",
        "The chapter's 1D CNN labels your text negative, neutral or positive and highlights the 3-token "
        "windows its most influential filters picked; train it from scratch live, scored against a "
        "TF-IDF + logistic regression baseline.",
        "pages/text.py",
    ),
    (
        "A summary of convolution operations",
        "Basic, dilated, transposed, spatially separable, depthwise and depthwise separable convolutions as "
        "real Keras layers: shapes, weight counts, animated receptive fields and their effect on your image.",
        "pages/convolutions.py",
    ),
    (
        "Capsule networks",
        "A CapsNet with routing by agreement (Sabour et al. 2017) trained here on MNIST: capsule lengths, "
        "coupling coefficients over the routing iterations, reconstructions, the 16-dimension perturbation "
        "sliders, and a CNN of similar size side by side.",
        "pages/capsules.py",
    ),
    (
        "Answering questions about images (visual question answering)",
        "The chapter's CNN + LSTM model and a Relation Network (Santoro et al. 2017), trained here on generated "
        "Sort-of-CLEVR scenes: type a question about a scene you generate or compose, see both answers with "
        "their probabilities, the exact answer and which object pairs weighed most.",
        "pages/vqa.py",
    ),
    (
        "Classifying videos with pretrained nets in six different ways",
        "Per-frame CNN + vote, CNN -> GRU, 3D ConvNet, frozen ImageNet features -> GRU / MLP and 3D-CNN "
        "features -> GRU, all trained here on the same generated clips and measured side by side; upload a "
        "video for the six guesses and a per-frame ImageNet timeline.",
        "pages/video.py",
    ),
    (
        "WaveNet, and sounds as images",
        "Notes rendered here from a General MIDI soundfont: a small CNN names the instrument from a note's log-mel "
        "spectrogram, basic-pitch names its pitch (your WAV, FLAC or OGG too), and a WaveNet trained here generates "
        "notes of a chosen instrument, pitch or blend of two instruments, with its receptive field drawn.",
        "pages/audio.py",
    ),
]
for section, summary, page in SECTIONS:
    with st.container(border=True):
        st.page_link(page, label=section)
        st.caption(summary)
