"""What each model trained here needs to train under a `tf.distribute` strategy (engine/distributed/multiworker.py).

One `DistributedSpec` per model whose entry in engine/core/entries.py names one (`distributed`): how to
build the model's graphs and load its data (`prepare`, called inside the strategy's scope), a batch
source that draws a replica's batch from the model's own data generator with a random generator it is
given (so each replica's batch is deterministic: seeded by step and replica), and the loss its own
training module minimizes,
reused from that module. A loss is either per example (rank 1, one value per example of the
batch) or, where the module normalizes over something finer than examples (anchors, ROIs, scored
samples, a batch-wide Jaccard term), the module's own mean over the replica's batch (rank 0),
which then counts as that mean for each of the replica's examples.

Differences from the single-process trainers, all in the optimizer's schedule or in which stages
train together: a constant learning rate (the module's peak; their cosine / step decays need the
run's length); no validation or checkpoints (`python -m engine train NAME` does those);
- R-CNN, Fast R-CNN: selective search proposals are computed per scene as the batch is drawn
  (the single-process trainers cache them); the search is not trainable by gradient, only the
  region classifier (R-CNN) or backbone + heads (Fast R-CNN) train;
- Mask R-CNN: stage 1 (backbone, RPN, box head and mask head jointly); stage 2, the mask head alone
  on the frozen detector, is the same loss with only the mask head's variables;
- video: the six ways train side by side in one step on the same clips, each on its own loss
  (their variables are disjoint, so this equals six separate Adam runs); MobileNetV2 (ways 4, 5) is
  frozen; way 6 reads way 3's trunk without gradient while way 3 is still training (the
  single-process trainer freezes the trunk after training way 3);
- the VQA Relation Network starts from scratch (the single-process trainer can start its encoders
  from the CNN + LSTM's);
- U-Net's soft Jaccard term is computed over each replica's batch, not the global batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np


@dataclasses.dataclass
class Trainee:
    """A model built for distributed training, with its batch source and loss."""

    parts: list  # the Keras models that train (their weights are hashed); frozen extractors are not listed
    batch: Callable[[np.random.Generator, int], tuple]  # (rng, size in the spec's unit) -> numpy arrays
    loss: Callable[..., Any]  # (*batch as tensors) -> per-example losses (size,) or the batch's mean loss ()


@dataclasses.dataclass(frozen=True)
class DistributedSpec:
    name: str
    prepare: Callable[[], Trainee]  # loads the data, then builds the graphs (inside the strategy's scope)
    unit: str  # what one example of a batch is
    batch_size: int  # per replica, as the single-process trainer's batch
    quick_batch_size: int  # per replica for checks (`--quick`, the tests)
    learning_rate: float  # Adam, constant
    clip_norm: float | None = None  # clip the all-reduced gradients to this global norm


def _capsnet(name: str) -> Trainee:
    from engine.capsules import train as capsnet_training
    from engine.data import mnist

    data = mnist.load_mnist().train
    model = capsnet_training.build(name)

    def batch(rng, size):
        index = rng.integers(0, len(data.labels), size)
        shifted = capsnet_training.shift_images(data.images[index], rng, capsnet_training.MAX_SHIFT)
        return capsnet_training.to_input(shifted), np.eye(10, dtype=np.float32)[data.labels[index]]

    return Trainee(model.parts, batch, lambda images, one_hot: capsnet_training.per_example_loss(
        name, model, images, one_hot)[0])


def _classloc(alpha: float) -> Trainee:
    from engine.detection.trained import localization

    network = localization.build_network(localization.SEED)

    def batch(rng, size):
        return localization.single_scenes("train", size, int(rng.integers(0, localization.TRAIN_SCENES)))

    return Trainee([network], batch, lambda images, labels, boxes: localization.per_example_losses(
        network, images, labels, boxes, alpha)[0])


def _yolo() -> Trainee:
    import tensorflow as tf

    from engine.detection.trained import yolo as scene_yolo

    network = scene_yolo.build_network(scene_yolo.SEED)

    def batch(rng, size):
        return scene_yolo.scene_arrays("train", size, int(rng.integers(0, scene_yolo.TRAIN_SCENES)))

    def loss(images, objects, targets, classes):
        return scene_yolo.yolo_loss(network(tf.cast(images, tf.float32), training=True), objects, targets, classes)[0]

    return Trainee([network], batch, loss)


def _region_batch(regions_per_scene: int, train_scenes: int):
    """Scenes with selective search proposals sampled into labelled regions, as R-CNN and Fast R-CNN train."""
    from engine.detection.trained import proposals as scene_proposals
    from engine.data import scenes

    def batch(rng, size):
        start = int(rng.integers(0, train_scenes))
        items = [scenes.scene("train", index) for index in range(start, start + size)]
        sampled = [scene_proposals.sample_regions(scene_proposals.selective_search(item.image), item.boxes,
                                                  item.labels, regions_per_scene, rng) for item in items]
        return (np.stack([item.image for item in items]), np.concatenate([regions for regions, _, _ in sampled]),
                np.repeat(np.arange(size, dtype=np.int32), regions_per_scene),
                np.concatenate([labels for _, labels, _ in sampled]), np.concatenate([targets for *_, targets in sampled]))

    return batch


def _rcnn() -> Trainee:
    from engine.detection.trained import rcnn as scene_rcnn

    network = scene_rcnn.RCNN().network

    def loss(images, regions, image_indices, labels, targets):
        return sum(scene_rcnn.losses(network, scene_rcnn.warp_regions(images, regions, image_indices), labels, targets))

    return Trainee([network], _region_batch(scene_rcnn.REGIONS_PER_SCENE, scene_rcnn.TRAIN_SCENES), loss)


def _fast_rcnn() -> Trainee:
    from engine.detection.trained import fast_rcnn

    model = fast_rcnn.FastRCNN()
    return Trainee(model.parts, _region_batch(fast_rcnn.REGIONS_PER_SCENE, fast_rcnn.TRAIN_SCENES),
                   lambda *batch: sum(fast_rcnn.losses(model, *batch)))


def _faster_rcnn(name: str) -> Trainee:
    import tensorflow as tf

    from engine.detection.trained import faster_rcnn
    from engine.data import scenes

    model = faster_rcnn.FasterRCNN(with_masks=name == "mask-rcnn")

    def batch(rng, size):
        data = scenes.batch("train", int(rng.integers(0, faster_rcnn.TRAIN_SCENES)), size)
        return data.images.astype(np.float32), data.boxes, data.labels.astype(np.int32), data.masks

    def loss(images, boxes, labels, masks):
        return tf.add_n(list(model.losses(images, boxes, labels, masks, tf.constant(model.anchors),
                                          training=True).values()))

    return Trainee(model.parts, batch, loss)


def _unet() -> Trainee:
    from engine.segmentation import unet as scene_unet

    network = scene_unet.build_network()

    def batch(rng, size):
        images, maps = scene_unet.generate("train", size, int(rng.integers(0, scene_unet.TRAIN_SCENES)),
                                           objects=scene_unet.TRAIN_OBJECTS)
        return images.astype(np.float32), maps.astype(np.int32)

    return Trainee([network], batch, lambda images, maps: scene_unet.batch_loss(network, images, maps))


def _text(name: str) -> Trainee:
    import keras

    from engine.text import sentiment
    from engine.text import train as text_training

    data = text_training.prepare_tweets() if name == "text-cnn" else text_training.prepare_imdb()
    ids, targets = data.arrays["train"], data.splits.targets["train"]
    model = sentiment.build_model(data.vocabulary.size, len(data.splits.labels))
    per_example = keras.losses.get(model.loss)  # the loss the model is compiled with (sparse / binary CE)
    binary = model.output.shape[-1] == 1

    def batch(rng, size):
        index = rng.integers(0, len(targets), size)
        return ids[index].astype(np.int32), targets[index].astype(np.float32 if binary else np.int64)

    def loss(batch_ids, answers):
        return per_example(answers[:, None] if binary else answers, model(batch_ids, training=True))

    return Trainee([model], batch, loss)


def _instrument() -> Trainee:
    from engine.audio import features as audio_features
    from engine.audio.instrument import model as instrument_cnn
    from engine.audio.instrument import train as instrument_training

    pooled = instrument_training.pooled_split([instrument_training.soundfont_notes(font)
                                              for font in instrument_training.TRAINING_SOUNDFONTS], "train")
    audio, instruments = pooled.audio, pooled.instruments
    model = instrument_cnn.build()
    augmented_share = instrument_training.AUGMENTED_COPIES / (1 + instrument_training.AUGMENTED_COPIES)

    def batch(rng, size):
        index = rng.integers(0, len(instruments), size)
        notes = audio[index].copy()
        copies = rng.random(size) < augmented_share  # the trainer's mix: each note plus augmented copies
        notes[copies] = instrument_training.augment(notes[copies], rng)
        images = instrument_training.augment_images(audio_features.log_mel_batch(notes), rng)
        return images, instruments[index]

    return Trainee([model], batch, lambda images, answers: instrument_training.per_note_loss(model, images, answers))


def _wavenet() -> Trainee:
    from engine.audio.wavenet import model as wavenet
    from engine.audio.wavenet import train as wavenet_training

    codes, instruments, pitches = wavenet_training.training_notes()
    network = wavenet.build_network()

    def batch(rng, size):
        return wavenet_training.training_batch(codes, instruments, pitches, rng, batch=size)

    return Trainee([network], batch, lambda *batch: wavenet_training.window_loss(network, *batch))


def _video() -> Trainee:
    import tensorflow as tf

    from engine.features import extractors as features
    from engine.core import registry
    from engine.data import clips as video_clips
    from engine.video import models as video_models
    from engine.video import train as video_training

    ways = video_models.build_all(registry.load(features.DEFAULT_MODEL).model)

    def batch(rng, size):
        clips = video_clips.batch("train", int(rng.integers(0, video_training.TRAIN_CLIPS)), size)
        return clips.frames, clips.labels

    return Trainee([getattr(ways, way) for way in video_models.WAYS], batch,
                   lambda frames, labels: tf.add_n(list(video_training.per_clip_losses(ways, frames, labels).values())))


def _vqa(name: str) -> Trainee:
    from engine.data import sort_of_clevr
    from engine.vqa import train as vqa_training

    model = vqa_training.build(name)
    per_image = vqa_training.QUESTIONS_PER_IMAGE

    def batch(rng, size):  # size questions, QUESTIONS_PER_IMAGE on each image
        scenes = sort_of_clevr.scene_set("train", int(rng.integers(0, vqa_training.TRAIN_SCENES)), size // per_image)
        questions = rng.integers(0, len(sort_of_clevr.QUESTION_TABLE), size)
        return (scenes.images.astype(np.float32), sort_of_clevr.QUESTION_TOKENS[questions].astype(np.int32),
                scenes.answers[np.repeat(np.arange(size // per_image), per_image), questions])

    return Trainee([model], batch, lambda images, tokens, answers: vqa_training.per_question_loss(
        model, images, tokens, answers)[0])


# --- The specs, by the `distributed` references of engine/core/entries.py: (name) -> DistributedSpec.
# Built on use: the constants come from training modules that import nothing heavy.

def capsnet(name: str) -> DistributedSpec:
    from engine.capsules import train as capsnet_training

    return DistributedSpec(name, lambda: _capsnet(name), "images", capsnet_training.BATCH_SIZE, 4,
                           capsnet_training.LEARNING_RATE)


def classloc(name: str) -> DistributedSpec:
    from engine.detection.trained import localization

    alpha = float(name.removeprefix("classloc-a"))
    return DistributedSpec(name, lambda: _classloc(alpha), "scenes", localization.BATCH_SIZE, 4,
                           localization.LEARNING_RATE)


def yolo(name: str) -> DistributedSpec:
    from engine.detection.trained import yolo as scene_yolo

    return DistributedSpec(name, _yolo, "scenes", scene_yolo.BATCH_SIZE, 4, scene_yolo.LEARNING_RATE)


def rcnn(name: str) -> DistributedSpec:
    from engine.detection.trained import rcnn as scene_rcnn

    return DistributedSpec(name, _rcnn, "scenes", scene_rcnn.BATCH_SIZE // scene_rcnn.REGIONS_PER_SCENE, 2,
                           scene_rcnn.LEARNING_RATE)


def fast_rcnn(name: str) -> DistributedSpec:
    from engine.detection.trained import fast_rcnn as scene_fast_rcnn

    return DistributedSpec(name, _fast_rcnn, "scenes", scene_fast_rcnn.SCENES_PER_BATCH, 2,
                           scene_fast_rcnn.LEARNING_RATE)


def faster_rcnn(name: str) -> DistributedSpec:
    from engine.detection.trained import faster_rcnn as scene_faster_rcnn

    return DistributedSpec(name, lambda: _faster_rcnn(name), "scenes", scene_faster_rcnn.BATCH_SIZE, 2,
                           scene_faster_rcnn.LEARNING_RATE)


def unet(name: str) -> DistributedSpec:
    from engine.segmentation import unet as scene_unet

    return DistributedSpec(name, _unet, "scenes", scene_unet.BATCH_SIZE, 2, scene_unet.LEARNING_RATE)


def text(name: str) -> DistributedSpec:
    return DistributedSpec(name, lambda: _text(name), "tweets" if name == "text-cnn" else "reviews", 64, 8, 1e-3)


def instrument(name: str) -> DistributedSpec:
    from engine.audio.instrument import train as instrument_training

    return DistributedSpec(name, _instrument, "notes", instrument_training.BATCH_SIZE, 4,
                           instrument_training.LEARNING_RATE)


def video(name: str) -> DistributedSpec:
    from engine.video import train as video_training

    return DistributedSpec(name, _video, "clips", video_training.BATCH_SIZE, 2, video_training.LEARNING_RATE)


def vqa(name: str) -> DistributedSpec:
    from engine.vqa import train as vqa_training

    return DistributedSpec(name, lambda: _vqa(name), "questions", vqa_training.BATCH_SIZE,
                           vqa_training.QUESTIONS_PER_IMAGE * 2, vqa_training.LEARNING_RATE, vqa_training.CLIP_NORM)


def wavenet(name: str) -> DistributedSpec:
    from engine.audio.wavenet import train as wavenet_training

    return DistributedSpec(name, _wavenet, "windows", wavenet_training.BATCH, 2, wavenet_training.LEARNING_RATE)


def _references() -> dict[str, str]:
    """Trainable name (as `python -m engine train NAME`) -> its spec's reference, from the model table."""
    from engine.core import entries

    found = {entry.command_name: entry.distributed for entry in entries.MODELS if entry.distributed}
    found.update({experiment.name: experiment.distributed for experiment in entries.EXPERIMENTS
                  if experiment.distributed})
    return found


def names() -> tuple[str, ...]:
    return tuple(_references())


def get(name: str) -> DistributedSpec:
    """The spec of a trainable name.

    Raises:
        InvalidInput: no model of that name is trained here (the message lists those that are).
    """
    from engine.core import entries
    from engine.core.errors import InvalidInput

    references = _references()
    if name not in references:
        raise InvalidInput(f"'{name}' cannot be trained on several workers: it is not trained here. "
                           f"Trainable: {', '.join(sorted(references))}.")
    return entries.resolve(references[name])(name)
