"""The two visual question answering models trained here on Sort-of-CLEVR (engine/data/sort_of_clevr.py).

1. The chapter's model (CNN + LSTM): a CNN encodes the image to one vector, an Embedding + LSTM encodes
   the question, the two are concatenated and a Dense softmax picks the answer. The chapter puts the
   softmax right after the concatenation; with that, image and question only add their evidence in
   the logits and cannot interact ("the shape of the *red* object" needs the question to select part
   of the image), so one hidden Dense layer sits between them, as in the paper's CNN+MLP baseline.
2. A Relation Network (Santoro et al., "A simple neural network module for relational reasoning",
   NeurIPS 2017): the CNN's 5 x 5 feature cells, each with its (x, y) coordinates appended, are the
   "objects"; every ordered pair (o_i, o_j), with the question encoding, goes through an MLP g; the
   625 outputs are summed and an MLP f gives the answer: RN(O, q) = f(sum_ij g(o_i, o_j, q)).

Both share the paper's image encoder (4 conv layers of 24 channels, stride 2: 75 -> 38 -> 19 -> 10
-> 5; the RN's also reads each pixel's coordinates) and question encoder. g is cut to fit two shared CPU
cores (3 x 128, not 4 x 256); g was widened and f grown to the paper's 256, 256 during training
(engine/vqa/growth.py; the cycles are in docs/models/vqa-relation-network.md).
g's first layer is linear in the concatenation [o_i, o_j, q], so it is computed as
W_a o_i + W_b o_j + W_q q, each once per object, then broadcast over the pairs: the same function as
the paper's, at a fraction of the cost. The pairs are averaged rather than summed (the same
function up to a scale of f's first layer, better conditioned at the start).
"""

from __future__ import annotations

import numpy as np

from engine.data import sort_of_clevr as vqa_data

CONV_CHANNELS = 24  # the paper's Sort-of-CLEVR CNN: 4 layers of 24 kernels, stride 2
CONV_LAYERS = 4
GRID = 5  # 75 px after four stride-2 convolutions ("same" padding): 38, 19, 10, 5
EMBEDDING_DIM = 32  # word vectors
EMBEDDING_INIT = (
    1.0  # std of the initial word vectors: distinct colour words from the first step (Keras: U(-0.05, 0.05))
)
QUESTION_DIM = 64  # LSTM units
CNN_LSTM_HIDDEN = 256  # the chapter model's hidden Dense layer
# RN g: paper 4 x 256, cut to fit a shared CPU (its cost grows with the square of the width); widened from 3 x 64
# when the RN underfitted (docs/models/vqa-relation-network.md).
G_UNITS = (128, 128, 128)
# RN f hidden layers before the softmax: the paper's 256, 256. f runs once per question, so its size costs little;
# telling which pair's distance is largest is a comparison f must make (grown from one layer of 128: see the card).
F_UNITS = (256, 256)
# The RN's CNN also reads each pixel's coordinates (CoordConv, Liu et al. 2018): a cell's coordinates place an
# object only to within its 15 px, too coarse for distances that differ by a few pixels.
PIXEL_COORDINATES = True
DROPOUT = 0.25  # in f, as the paper's dropout before the last layer

TITLES = {"vqa-cnn-lstm": "CNN + LSTM (the chapter's model)", "vqa-relation-network": "Relation Network"}


def _image_encoder(name: str, coordinate_channels: bool = False):
    import keras
    from keras import layers, ops

    image = keras.Input((vqa_data.SIZE, vqa_data.SIZE, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1)(image)
    if coordinate_channels:  # CoordConv: each pixel's x and y in [-1, 1] as two more input channels
        grid = ops.convert_to_tensor(_pixel_coordinates())
        x = layers.Lambda(
            lambda t: ops.concatenate(
                [t, ops.broadcast_to(grid[None], (ops.shape(t)[0], *grid.shape))], axis=-1
            ),
            name="add_pixel_coordinates",
        )(x)
    for index in range(CONV_LAYERS):
        x = layers.Conv2D(CONV_CHANNELS, 3, strides=2, padding="same", name=f"conv{index + 1}")(x)
        x = layers.BatchNormalization(name=f"bn{index + 1}")(x)
        x = layers.ReLU()(x)
    return keras.Model(image, x, name=name)


def _question_encoder(name: str):
    import keras
    from keras import layers

    words = keras.Input((vqa_data.MAX_WORDS,), dtype="int32", name="question")
    x = layers.Embedding(
        len(vqa_data.VOCABULARY),
        EMBEDDING_DIM,
        mask_zero=True,
        name="embedding",
        embeddings_initializer=keras.initializers.RandomNormal(stddev=EMBEDDING_INIT),
    )(words)
    return keras.Model(words, layers.LSTM(QUESTION_DIM, name="lstm")(x), name=name)


def build_cnn_lstm():
    """image uint8 (B, 75, 75, 3), question int32 (B, MAX_WORDS) -> answer probabilities (B, len(ANSWERS)).

    Three parts (nested models, found by name): "visual" (CNN -> one vector), "question_encoder"
    (Embedding + LSTM) and "head" (concatenate -> hidden Dense -> softmax); training runs the CNN
    once per image and the head once per question.
    """
    import keras
    from keras import layers

    image = keras.Input((vqa_data.SIZE, vqa_data.SIZE, 3), name="image")
    visual = keras.Model(image, layers.Flatten()(_image_encoder("cnn")(image)), name="visual")
    question_encoder = _question_encoder("question_encoder")
    visual_in = keras.Input((GRID * GRID * CONV_CHANNELS,), name="visual_vector")
    question_in = keras.Input((QUESTION_DIM,), name="question_vector")
    merged = layers.Concatenate()([question_in, visual_in])
    hidden = layers.Dense(CNN_LSTM_HIDDEN, activation="relu", name="hidden")(merged)
    hidden = layers.Dropout(DROPOUT)(hidden)
    output = layers.Dense(len(vqa_data.ANSWERS), activation="softmax", name="answer")(hidden)
    head = keras.Model([visual_in, question_in], output, name="head")
    return _assemble(visual, question_encoder, head, "vqa_cnn_lstm")


def build_relation_network(
    g_units: tuple[int, ...] | None = None,
    f_units: tuple[int, ...] | None = None,
    pixel_coordinates: bool | None = None,
):
    """image, question -> [answer probabilities (B, len(ANSWERS)), pair weight (B, 25, 25)].

    g_units, f_units, pixel_coordinates: the network's size (default G_UNITS, F_UNITS, PIXEL_COORDINATES, read
    now); training cycles that ran a smaller network (engine/vqa/train.py's configs) pass theirs.

    The pair weight is the L2 norm of g's output for each ordered cell pair: how much that pair
    contributes to the sum f reads (the page shows the largest). Parts as in `build_cnn_lstm`:
    "visual" gives the 25 objects (cells + coordinates), "head" is g, the sum and f.
    """
    import keras
    from keras import layers, ops

    g_units = G_UNITS if g_units is None else tuple(g_units)
    f_units = F_UNITS if f_units is None else tuple(f_units)
    pixel_coordinates = PIXEL_COORDINATES if pixel_coordinates is None else pixel_coordinates
    cells = GRID * GRID
    image = keras.Input((vqa_data.SIZE, vqa_data.SIZE, 3), name="image")
    cnn = _image_encoder("cnn", coordinate_channels=pixel_coordinates)
    objects = layers.Reshape((cells, CONV_CHANNELS))(cnn(image))  # (B, 25, 24)
    coordinates = ops.convert_to_tensor(_coordinates())  # (25, 2) in [-1, 1], x then y
    objects = layers.Lambda(
        lambda o: ops.concatenate(
            [o, ops.broadcast_to(coordinates[None], (ops.shape(o)[0], cells, 2))], axis=-1
        ),
        name="add_coordinates",
    )(objects)
    visual = keras.Model(image, objects, name="visual")
    question_encoder = _question_encoder("question_encoder")

    objects_in = keras.Input((cells, CONV_CHANNELS + 2), name="objects")
    question_in = keras.Input((QUESTION_DIM,), name="question_vector")
    first = layers.Dense(g_units[0], use_bias=False, name="g1_first")(objects_in)  # W_a o_i
    second = layers.Dense(g_units[0], use_bias=False, name="g1_second")(objects_in)  # W_b o_j
    asked = layers.Dense(g_units[0], name="g1_question")(question_in)  # W_q q + bias
    pairs = layers.Lambda(
        lambda t: ops.relu(t[0][:, :, None, :] + t[1][:, None, :, :] + t[2][:, None, None, :]),
        name="g1_pairs",
    )([first, second, asked])  # (B, 25, 25, 128)
    for index, units in enumerate(g_units[1:], start=2):
        pairs = layers.Dense(units, activation="relu", name=f"g{index}")(pairs)
    weight = layers.Lambda(lambda p: ops.sqrt(ops.sum(ops.square(p), axis=-1) + 1e-12), name="pair_weight")(
        pairs
    )
    # The paper sums over pairs; the mean (the sum / 625) is the same function up to f's first weights
    # and starts f at a sane scale (the raw sum sent the first steps' loss to ~20).
    x = layers.Lambda(lambda p: ops.mean(p, axis=(1, 2)), name="sum_pairs")(pairs)
    # The mean of 625 pairs, most of them background, differs little from question to question:
    # normalising it lets f see those differences from the start (without it, from scratch, the RN
    # stayed at chance: docs/models/vqa-relation-network.md).
    x = layers.BatchNormalization(name="sum_norm")(x)
    for index, units in enumerate(f_units, start=1):
        x = layers.Dense(units, activation="relu", name=f"f{index}")(x)
    x = layers.Dropout(DROPOUT)(x)
    output = layers.Dense(len(vqa_data.ANSWERS), activation="softmax", name="answer")(x)
    head = keras.Model([objects_in, question_in], [output, weight], name="head")
    return _assemble(visual, question_encoder, head, "vqa_relation_network")


def _assemble(visual, question_encoder, head, name: str):
    import keras

    image = keras.Input((vqa_data.SIZE, vqa_data.SIZE, 3), name="image")
    words = keras.Input((vqa_data.MAX_WORDS,), dtype="int32", name="question")
    return keras.Model([image, words], head([visual(image), question_encoder(words)]), name=name)


def _pixel_coordinates():
    steps = np.linspace(-1.0, 1.0, vqa_data.SIZE, dtype=np.float32)
    y, x = np.meshgrid(steps, steps, indexing="ij")
    return np.stack([x, y], axis=-1)  # (75, 75, 2)


def _coordinates():
    steps = np.linspace(-1.0, 1.0, GRID, dtype=np.float32)
    y, x = np.meshgrid(steps, steps, indexing="ij")
    return np.stack([x.ravel(), y.ravel()], axis=-1)


def build(name: str):
    if name == "vqa-cnn-lstm":
        return build_cnn_lstm()
    if name == "vqa-relation-network":
        return build_relation_network()
    raise ValueError(f"No VQA model named {name}; known: {', '.join(TITLES)}.")


# Answers averaged over the views of the scene their question does not depend on (vqa_data.INVARIANT_VIEWS), per
# model, chosen on the validation split at 8 times the compute: the RN gained, the CNN + LSTM did not (the figures:
# docs/models/vqa-relation-network.md).
SYMMETRIC_VIEWS = {"vqa_relation_network": True, "vqa_cnn_lstm": False}  # by Keras model name


def answer_probabilities(model, images, tokens, chunk: int = 256) -> np.ndarray:
    """Answer probabilities (N, len(ANSWERS)) as the page, the CLI and the evaluation give them: the mean
    over the views each question's answer is invariant under, for models in SYMMETRIC_VIEWS, else `probabilities`.
    The views of `chunk` questions go through the model together."""
    if not SYMMETRIC_VIEWS.get(model.name):
        return probabilities(model, images, tokens)
    out = []
    for start in range(0, len(images), chunk):
        part_images, part_tokens = images[start : start + chunk], tokens[start : start + chunk]
        wanted = vqa_data.invariant_views(part_tokens)
        owners = [[row for row, views in enumerate(wanted) if which in views] for which in vqa_data.VIEWS]
        seen = np.concatenate(
            [vqa_data.view(part_images[rows], which) for which, rows in zip(vqa_data.VIEWS, owners) if rows]
        )
        rows = np.concatenate([rows for rows in owners if rows]).astype(int)
        total = np.zeros((len(part_images), len(vqa_data.ANSWERS)))
        np.add.at(total, rows, probabilities(model, seen, part_tokens[rows]))
        out.append(total / np.bincount(rows, minlength=len(part_images))[:, None])
    return np.concatenate(out)


def probabilities(model, images, tokens, batch_size: int = 256):
    """Answer probabilities (N, len(ANSWERS)) for uint8 images (N, 75, 75, 3) and int32 tokens, either model."""
    out = []
    for start in range(0, len(images), batch_size):
        result = model.predict_on_batch(
            [
                images[start : start + batch_size].astype(np.float32),
                tokens[start : start + batch_size].astype(np.int32),
            ]
        )
        out.append(np.asarray(result[0] if isinstance(result, (list, tuple)) else result))
    return np.concatenate(out)
