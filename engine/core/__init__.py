"""The engine's foundation: model table and registry, assets, manifest, media, runtime, errors, progress, training.

Imports nothing else in `engine`."""
