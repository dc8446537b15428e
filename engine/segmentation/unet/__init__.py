"""The U-Net trained here on the scenes: model.py (network, inference), train.py (training, named
configs), grow.py (3 levels into 4), evaluation.py (held-out figures); card: docs/models/unet.md."""
