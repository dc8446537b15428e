"""Pipelines across tasks: instance masks from a detector and a segmenter."""
