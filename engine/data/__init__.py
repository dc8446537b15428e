"""Data sets: the ones that ship in packages (MNIST, tweets) and the ones made here (scenes, Sort-of-CLEVR, clips, notes)."""
