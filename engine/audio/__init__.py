"""Audio: recordings, log-mel spectrograms, pitch, the instrument CNN and WaveNet."""
