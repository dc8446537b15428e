"""Sentiment of a text with the chapter's 1D CNN."""
