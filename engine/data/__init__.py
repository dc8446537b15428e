"""Data sets: those that ship in packages (MNIST, tweets) and those made here.

Made here: the scenes, Sort-of-CLEVR, the video clips and the rendered notes.
"""
