"""Semantic segmentation: DeepLabV3 and the selfie segmenter on photos, a U-Net trained here on the scenes."""
