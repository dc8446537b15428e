"""The engine's foundation: model table and registry, assets, manifest, media, runtime, errors, progress, training
(Task + Trainer), schedules, runs.

Imports nothing else in `engine`."""
