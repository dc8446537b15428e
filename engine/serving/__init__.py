"""TensorFlow Serving: exports, per-model serving signatures and a REST client."""
