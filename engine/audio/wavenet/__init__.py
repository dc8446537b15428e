"""WaveNet (van den Oord et al. 2016): raw audio one sample at a time."""
