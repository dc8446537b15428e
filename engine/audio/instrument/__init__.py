"""Which instrument plays a note: a small CNN on log-mel spectrograms."""
