"""ImageNet feature extractors and what they show: DeepDream, Grad-CAM, feature visualization, activation atlas."""
