"""The chapter's convolution types, each a real Keras layer, with receptive fields."""
