"""What each model trained here needs, beyond its Task, to train under a `tf.distribute` strategy
(engine/distributed/multiworker.py).

The multi-worker path drives the same Task as the single-process Trainer (engine/core/training.py):
`build_sampler` and `build_model` (in the strategy's scope), `sample(rng, size)` for each replica's batch
(a generator seeded by step and replica, so each replica's batch is deterministic) and `loss(batch)`, what
the Task's own step minimizes: per example (rank 1), or, where the Task normalizes over something finer
than examples (anchors, ROIs, scored samples, a batch-wide Jaccard term), its mean over the replica's
batch (rank 0), which then counts as that mean for each of the replica's examples. The Task also names
the unit of a batch, its batch size and the gradient clip. One `DistributedSpec` per model whose entry in
engine/core/entries.py names one (`distributed`) adds only what differs under a strategy:

- a constant learning rate, the single-process schedule's peak (its cosine / step decays need the run's
  length); no validation, checkpoints or finalize (`python -m engine train NAME` does those);
- a small per-replica batch for checks (`--quick`, the tests); text's batch is 64 per replica (the Task's
  is 128 tweets / 500 reviews);
- batches are drawn at random (`sample`) instead of by the Task's epochs (`batches`): consecutive
  generated scenes / clips from a random one instead of pre-generated sets in shuffled order; VQA's
  questions uniformly, not by KIND_WEIGHTS; U-Net's scenes not oversampled; instrument notes augmented as
  they are drawn; R-CNN, Fast R-CNN: selective search proposals computed per scene as the batch is drawn
  (the single-process trainers cache them); the search is not trainable by gradient;
- Mask R-CNN: stage 1 only (backbone, RPN, box head and mask head jointly); stage 2, the mask head alone
  on the frozen detector, is the same Task's loss with only the mask head's variables (`MaskHeadTask`);
- video: `SixWaysTask`, the six ways side by side in one step on the same clips, each on its own loss
  (their variables are disjoint, so this equals six separate Adam runs); MobileNetV2 (ways 4, 5) is
  frozen; way 6 reads way 3's trunk without gradient while way 3 is still training (the single-process
  trainer runs one WayTask per way and freezes the trunk after training way 3);
- the VQA Relation Network starts from scratch (the single-process trainer can start its encoders
  from the CNN + LSTM's);
- U-Net's soft Jaccard term is computed over each replica's batch, not the global batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.core.training import Task


@dataclasses.dataclass(frozen=True)
class DistributedSpec:
    name: str
    task: Callable[[], Task]  # a fresh Task, as the single-process trainer builds it (cheap: loads nothing)
    quick_batch_size: int  # per replica for checks (`--quick`, the tests)
    learning_rate: float  # Adam, constant
    batch_size: int | None = None  # per replica; None: the Task's `batch_size`


# --- The specs, by the `distributed` references of engine/core/entries.py: (name) -> DistributedSpec.
# Built on use: the constants come from training modules that import nothing heavy.


def capsnet(name: str) -> DistributedSpec:
    from engine.capsules import train as capsnet_training

    return DistributedSpec(
        name, lambda: capsnet_training.CapsNetTask(name), 4, capsnet_training.LEARNING_RATE
    )


def classloc(name: str) -> DistributedSpec:
    from engine.detection.trained import localization

    alpha = float(name.removeprefix("classloc-a"))
    return DistributedSpec(name, lambda: localization.LocalizationTask(alpha), 4, localization.LEARNING_RATE)


def yolo(name: str) -> DistributedSpec:
    from engine.detection.trained import yolo as scene_yolo

    return DistributedSpec(name, scene_yolo.YoloTask, 4, scene_yolo.LEARNING_RATE)


def rcnn(name: str) -> DistributedSpec:
    from engine.detection.trained import rcnn as scene_rcnn

    return DistributedSpec(
        name,
        lambda: scene_rcnn.RCNNTask(scene_rcnn.TRAIN_SCENES, scene_rcnn.VALIDATION_SCENES),
        2,
        scene_rcnn.LEARNING_RATE,
    )


def fast_rcnn(name: str) -> DistributedSpec:
    from engine.detection.trained import fast_rcnn as scene_fast_rcnn

    return DistributedSpec(
        name,
        lambda: scene_fast_rcnn.FastRCNNTask(scene_fast_rcnn.TRAIN_SCENES, scene_fast_rcnn.VALIDATION_SCENES),
        2,
        scene_fast_rcnn.LEARNING_RATE,
    )


def faster_rcnn(name: str) -> DistributedSpec:
    from engine.detection.trained import faster_rcnn as scene_faster_rcnn

    return DistributedSpec(
        name, lambda: scene_faster_rcnn.DetectorTask(name), 2, scene_faster_rcnn.LEARNING_RATE
    )


def unet(name: str) -> DistributedSpec:
    from engine.segmentation.unet import train as unet_training

    return DistributedSpec(
        name,
        lambda: unet_training.UNetTask(
            unet_training.TRAIN_SCENES,
            unet_training.VALIDATION_SCENES,
            seed=0,
            resume=False,
            peak=unet_training.LEARNING_RATE,
            smoke=False,
        ),
        2,
        unet_training.LEARNING_RATE,
    )


def text(name: str) -> DistributedSpec:
    from engine.text import train as text_training

    def task() -> Task:
        if name == "text-cnn":
            return text_training.TextTask(
                name,
                text_training.prepare_tweets,
                text_training.TWEETS_BATCH_SIZE,
                text_training.TWEETS_EPOCHS,
            )
        return text_training.TextTask(
            name,
            text_training.prepare_imdb,
            text_training.IMDB_BATCH_SIZE,
            text_training.IMDB_EPOCHS,
            keep_best=False,
        )

    return DistributedSpec(name, task, 8, 1e-3, batch_size=64)


def instrument(name: str) -> DistributedSpec:
    from engine.audio.instrument import train as instrument_training

    return DistributedSpec(name, instrument_training.InstrumentTask, 4, instrument_training.LEARNING_RATE)


def video(name: str) -> DistributedSpec:
    from engine.video import train as video_training

    return DistributedSpec(name, video_training.SixWaysTask, 2, video_training.LEARNING_RATE)


def vqa(name: str) -> DistributedSpec:
    from engine.vqa import train as vqa_training

    return DistributedSpec(
        name,
        lambda: vqa_training.VQATask(name, encoders_from_cnn_lstm=False),
        vqa_training.QUESTIONS_PER_IMAGE * 2,
        vqa_training.LEARNING_RATE,
    )


def wavenet(name: str) -> DistributedSpec:
    from engine.audio.wavenet import train as wavenet_training

    return DistributedSpec(name, wavenet_training.WaveNetTask, 2, wavenet_training.LEARNING_RATE)


def _references() -> dict[str, str]:
    """Trainable name (as `python -m engine train NAME`) -> its spec's reference, from the model table."""
    from engine.core import entries

    found = {entry.command_name: entry.distributed for entry in entries.MODELS if entry.distributed}
    found.update(
        {
            experiment.name: experiment.distributed
            for experiment in entries.EXPERIMENTS
            if experiment.distributed
        }
    )
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
        raise InvalidInput(
            f"'{name}' cannot be trained on several workers: it is not trained here. "
            f"Trainable: {', '.join(sorted(references))}."
        )
    return entries.resolve(references[name])(name)
