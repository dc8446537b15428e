"""Image classification: the top ImageNet classes of a photo."""
