"""Visual question answering on Sort-of-CLEVR: a CNN + LSTM and a Relation Network."""
