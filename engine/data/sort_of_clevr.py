"""Sort-of-CLEVR made here: scenes of six coloured shapes and questions about them, with exact answers.

After Santoro et al., "A simple neural network module for relational reasoning", NeurIPS 2017
(sec. 4, Sort-of-CLEVR): 75 x 75 images of six objects, each a square or a circle, each of a distinct
colour (red, green, blue, orange, gray, yellow), placed without overlap on a white background. The
object table (colour, shape, centre) is kept with every image, so every answer is computed, never
labelled by hand.

Questions are plain English from templates, about the object of one colour:

- non-relational: its shape; is it on the left (centre x < 37.5); is it on the top (centre y < 37.5);
- relational: the shape of the object closest to it / furthest from it (centre distance);
- counting: how many objects (itself included) have its shape.

Answers come from a fixed vocabulary (ANSWERS). A tokenizer turns a question into word ids of a fixed
vocabulary (lower-case words, punctuation ignored); an unknown word or an empty question raises
`InvalidInput` saying what the model knows.

Deterministic: scene `index` of a split is drawn from `numpy.random.default_rng((split seed, index))`;
the three splits use different seeds (fixed, disjoint). Layouts where the closest or furthest object
is tied are redrawn, so every relational answer is unique. The held-out figures of both models are
measured on test scenes 0..TEST_SCENES-1, each asked all KINDS x COLOURS questions.
"""

from __future__ import annotations

import dataclasses
import re

import cv2
import numpy as np

from engine.core.errors import InvalidInput

SIZE = 75  # image side, pixels (the paper's)
OBJECT_HALF = 5  # half the side of a square / radius of a circle (the paper's size 5)
COLOURS = ("red", "green", "blue", "orange", "gray", "yellow")
RGB = {
    "red": (255, 0, 0),
    "green": (0, 200, 0),
    "blue": (0, 0, 255),
    "orange": (255, 156, 0),
    "gray": (128, 128, 128),
    "yellow": (255, 235, 0),
}  # yellow / green toned so both read on white
SHAPES = ("square", "circle")
BACKGROUND = 255  # white
SPLITS = {"train": 21, "validation": 22, "test": 23}  # split -> seed
TEST_SCENES = 200  # the fixed held-out scenes every model reports on
VALIDATION_SCENES = 200
MAX_INDEX = 10_000_000
MIN_GAP = 2  # pixels between the bounding squares of two objects (circles are antialiased: a 1 px fringe)

KINDS = ("shape", "left", "top", "closest", "furthest", "count")
KIND_TYPE = {
    "shape": "non-relational",
    "left": "non-relational",
    "top": "non-relational",
    "closest": "relational",
    "furthest": "relational",
    "count": "counting",
}
QUESTION_TYPES = ("non-relational", "relational", "counting")
ANSWERS = ("square", "circle", "yes", "no", "1", "2", "3", "4", "5", "6")
TEMPLATES = {  # kind -> phrasings; the first is the canonical one (test questions use it)
    "shape": ("what is the shape of the {} object", "what shape is the {} object"),
    "left": ("is the {} object on the left", "is the {} object on the left side"),
    "top": ("is the {} object on the top", "is the {} object at the top"),
    "closest": (
        "what is the shape of the object closest to the {} object",
        "what shape is the object nearest to the {} object",
    ),
    "furthest": (
        "what is the shape of the object furthest from the {} object",
        "what shape is the object farthest from the {} object",
    ),
    "count": (
        "how many objects have the same shape as the {} object",
        "how many objects are the same shape as the {} object",
    ),
}
SYNONYMS = {"grey": "gray", "one": "object"}  # word -> vocabulary word
MAX_WORDS = 14  # longest question the models read, in words


@dataclasses.dataclass(frozen=True)
class SceneObject:
    colour: str  # one of COLOURS
    shape: str  # one of SHAPES
    x: int  # centre, pixels from the left
    y: int  # centre, pixels from the top


@dataclasses.dataclass(frozen=True)
class Scene:
    image: np.ndarray  # uint8 (SIZE, SIZE, 3) RGB
    objects: tuple[SceneObject, ...]  # the exact object table, in COLOURS order for generated scenes


@dataclasses.dataclass(frozen=True)
class Question:
    kind: str  # one of KINDS
    colour: str  # the object the question is about
    text: str

    @property
    def type(self) -> str:
        return KIND_TYPE[self.kind]


# --- Scenes ---------------------------------------------------------------------------------------


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise InvalidInput(f"Unknown split '{split}'; choose one of {', '.join(SPLITS)}.")


def render(objects: tuple[SceneObject, ...] | list[SceneObject]) -> np.ndarray:
    """Draw an object table: squares and circles of side 2 * OBJECT_HALF on white (OpenCV)."""
    image = np.full((SIZE, SIZE, 3), BACKGROUND, np.uint8)
    for item in objects:
        colour = RGB[item.colour]
        if item.shape == "square":
            cv2.rectangle(
                image,
                (item.x - OBJECT_HALF, item.y - OBJECT_HALF),
                (item.x + OBJECT_HALF - 1, item.y + OBJECT_HALF - 1),
                colour,
                thickness=-1,
            )
        else:
            cv2.circle(image, (item.x, item.y), OBJECT_HALF, colour, thickness=-1, lineType=cv2.LINE_AA)
    return image


def overlaps(objects: tuple[SceneObject, ...] | list[SceneObject]) -> bool:
    """True when two objects' bounding squares touch or overlap."""
    limit = 2 * OBJECT_HALF + MIN_GAP
    for first in range(len(objects)):
        for second in range(first + 1, len(objects)):
            a, b = objects[first], objects[second]
            if abs(a.x - b.x) < limit and abs(a.y - b.y) < limit:
                return True
    return False


def _has_ties(objects: tuple[SceneObject, ...]) -> bool:
    """True when some object's closest or furthest other object is not unique."""
    centres = np.array([(item.x, item.y) for item in objects], np.int64)
    squared = ((centres[:, None] - centres[None]) ** 2).sum(-1)
    for row in range(len(objects)):
        others = np.sort(np.delete(squared[row], row))
        if len(others) > 1 and (others[0] == others[1] or others[-1] == others[-2]):
            return True
    return False


def scene(split: str, index: int) -> Scene:
    """Scene `index` of a split: six objects, one per colour, random shapes and positions."""
    _check_split(split)
    if not 0 <= index < MAX_INDEX:
        raise InvalidInput(f"Scene index must be in 0..{MAX_INDEX - 1}.")
    rng = np.random.default_rng((SPLITS[split], index))
    low, high = OBJECT_HALF, SIZE - OBJECT_HALF  # centres keep the whole object inside
    while True:
        placed: list[SceneObject] = []
        for colour in COLOURS:
            for _ in range(100):
                x, y = (int(value) for value in rng.integers(low, high, size=2))
                candidate = SceneObject(colour, SHAPES[int(rng.integers(2))], x, y)
                if not overlaps(placed + [candidate]):
                    placed.append(candidate)
                    break
        if len(placed) == len(COLOURS) and not _has_ties(tuple(placed)):
            objects = tuple(placed)
            return Scene(render(objects), objects)


def compose(objects: list[SceneObject] | tuple[SceneObject, ...]) -> Scene:
    """A scene from a user's object table (1..6 objects of distinct colours, no overlap).

    Raises:
        InvalidInput: unknown colour or shape, repeated colour, object outside the image, overlap.
    """
    objects = tuple(objects)
    if not 1 <= len(objects) <= len(COLOURS):
        raise InvalidInput(f"A scene has 1 to {len(COLOURS)} objects.")
    for item in objects:
        if item.colour not in COLOURS:
            raise InvalidInput(f"Unknown colour '{item.colour}'; choose one of {', '.join(COLOURS)}.")
        if item.shape not in SHAPES:
            raise InvalidInput(f"Unknown shape '{item.shape}'; choose square or circle.")
        if not (OBJECT_HALF <= item.x <= SIZE - OBJECT_HALF and OBJECT_HALF <= item.y <= SIZE - OBJECT_HALF):
            raise InvalidInput(
                f"The {item.colour} object's centre must be within {OBJECT_HALF}..{SIZE - OBJECT_HALF} "
                "pixels on both axes."
            )
    if len({item.colour for item in objects}) != len(objects):
        raise InvalidInput("Each colour may appear once; give every object a different colour.")
    if overlaps(objects):
        raise InvalidInput(
            f"Two objects overlap; move them at least {2 * OBJECT_HALF + MIN_GAP} pixels apart on one axis."
        )
    return Scene(render(objects), objects)


# --- Answers --------------------------------------------------------------------------------------


def answer(objects: tuple[SceneObject, ...] | list[SceneObject], kind: str, colour: str) -> str | None:
    """The exact answer to a question about the `colour` object, or None when no such object exists.

    Closest / furthest by Euclidean distance between centres (ties: the first in table order;
    generated scenes have none); with a single object they have no answer (None).
    """
    if kind not in KINDS:
        raise InvalidInput(f"Unknown question kind '{kind}'; known: {', '.join(KINDS)}.")
    found = [item for item in objects if item.colour == colour]
    if not found:
        return None
    subject = found[0]
    if kind == "shape":
        return subject.shape
    if kind == "left":
        return "yes" if subject.x < SIZE / 2 else "no"
    if kind == "top":
        return "yes" if subject.y < SIZE / 2 else "no"
    if kind == "count":
        return str(sum(item.shape == subject.shape for item in objects))
    others = [item for item in objects if item is not subject]
    if not others:
        return None
    distances = [(item.x - subject.x) ** 2 + (item.y - subject.y) ** 2 for item in others]
    pick = int(np.argmin(distances)) if kind == "closest" else int(np.argmax(distances))
    return others[pick].shape


def all_questions(phrasing: int = 0) -> list[Question]:
    """Every (kind, colour) question in one phrasing, kinds outer, colours inner."""
    return [
        Question(kind, colour, TEMPLATES[kind][phrasing].format(colour))
        for kind in KINDS
        for colour in COLOURS
    ]


# --- Tokenizer ------------------------------------------------------------------------------------

VOCABULARY = ("<pad>",) + tuple(
    sorted(
        {word for phrasings in TEMPLATES.values() for text in phrasings for word in text.format("").split()}
        | set(COLOURS)
    )
)
WORD_INDEX = {word: index for index, word in enumerate(VOCABULARY)}
EXAMPLES = tuple(
    TEMPLATES[kind][0].format(colour) + "?"
    for kind, colour in (
        ("shape", "red"),
        ("left", "green"),
        ("top", "blue"),
        ("closest", "orange"),
        ("furthest", "gray"),
        ("count", "yellow"),
    )
)


def words(text: str) -> list[str]:
    """Lower-case words of a question, punctuation dropped, synonyms mapped (grey -> gray)."""
    return [SYNONYMS.get(word, word) for word in re.findall(r"[a-z0-9]+", text.lower())]


def tokenize(text: str) -> np.ndarray:
    """int32 (MAX_WORDS,) word ids, padded with 0 at the end.

    Raises:
        InvalidInput: empty question, unknown words (the message lists the known ones), too long.
    """
    found = words(text)
    if not found:
        raise InvalidInput("Type a question, for example: " + EXAMPLES[0])
    unknown = sorted({word for word in found if word not in WORD_INDEX})
    if unknown:
        known = ", ".join(word for word in VOCABULARY[1:])
        raise InvalidInput(
            f"Unknown word{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. "
            f"The models know only these words: {known}. Try: {EXAMPLES[0]}"
        )
    if len(found) > MAX_WORDS:
        raise InvalidInput(f"Questions have at most {MAX_WORDS} words; this one has {len(found)}.")
    ids = np.zeros(MAX_WORDS, np.int32)
    ids[: len(found)] = [WORD_INDEX[word] for word in found]
    return ids


def parse(text: str) -> Question | None:
    """The template question a text is (any phrasing, punctuation and case ignored), or None."""
    key = " ".join(words(text))
    for kind, phrasings in TEMPLATES.items():
        for phrasing in phrasings:
            for colour in COLOURS:
                if phrasing.format(colour) == key:
                    return Question(kind, colour, phrasing.format(colour))
    return None


# --- Arrays for training and evaluation -----------------------------------------------------------

QUESTION_TABLE = [
    Question(kind, colour, phrasings[phrasing].format(colour))
    for kind, phrasings in TEMPLATES.items()
    for phrasing in range(len(phrasings))
    for colour in COLOURS
]  # every phrasing
QUESTION_TOKENS = np.stack(
    [tokenize(question.text) for question in QUESTION_TABLE]
)  # (len(QUESTION_TABLE), MAX_WORDS)
ANSWER_INDEX = {name: index for index, name in enumerate(ANSWERS)}


@dataclasses.dataclass(frozen=True)
class SceneSet:
    images: np.ndarray  # uint8 (N, SIZE, SIZE, 3)
    answers: np.ndarray  # int64 (N, len(QUESTION_TABLE)) answer index of every question of every scene


def scene_set(split: str, start: int, count: int) -> SceneSet:
    """Scenes start..start+count-1 of a split with the answer to every table question."""
    images, answers = [], []
    for index in range(start, start + count):
        item = scene(split, index)
        images.append(item.image)
        answers.append(
            [
                ANSWER_INDEX[answer(item.objects, question.kind, question.colour)]
                for question in QUESTION_TABLE
            ]
        )
    return SceneSet(np.stack(images), np.asarray(answers, np.int64))


def canonical_question_ids() -> np.ndarray:
    """Indices into QUESTION_TABLE of the canonical phrasing of each (kind, colour), KINDS order."""
    return np.array(
        [
            index
            for index, question in enumerate(QUESTION_TABLE)
            if question.text == TEMPLATES[question.kind][0].format(question.colour)
        ]
    )


# --- Symmetric views ------------------------------------------------------------------------------

# The 8 symmetries of the square image, as (transpose, mirror left-right, flip top-bottom). Each maps a scene to
# another valid scene (a square's pixels span centre - 5 .. centre + 4, so a mirrored square sits half a pixel off
# a generated one) with the same shapes, colours and distances between centres.
VIEWS = tuple(
    (transpose, mirror, flip)
    for transpose in (False, True)
    for mirror in (False, True)
    for flip in (False, True)
)
IDENTITY = (False, False, False)
# The views that leave each kind's answer unchanged: all 8 for shape, closest, furthest and count; "on the left"
# only survives flips top-bottom, "on the top" only mirrors left-right.
INVARIANT_VIEWS = {
    "shape": VIEWS,
    "closest": VIEWS,
    "furthest": VIEWS,
    "count": VIEWS,
    "left": (IDENTITY, (False, False, True)),
    "top": (IDENTITY, (False, True, False)),
}
_KIND_OF_TOKENS = {tuple(tokens): question.kind for tokens, question in zip(QUESTION_TOKENS, QUESTION_TABLE)}


def view(images: np.ndarray, which: tuple[bool, bool, bool]) -> np.ndarray:
    """Images (N, H, W, C) seen through one of VIEWS: transposed (x <-> y) first, then mirrored and / or flipped."""
    transpose, mirror, flip = which
    out = images.transpose(0, 2, 1, 3) if transpose else images
    out = out[:, :, ::-1] if mirror else out
    return np.ascontiguousarray(out[:, ::-1] if flip else out)


def invariant_views(tokens: np.ndarray) -> list[tuple[tuple[bool, bool, bool], ...]]:
    """For each question (N, MAX_WORDS) of the table, the views its answer does not change under; the
    identity alone for token sequences that are no template question."""
    return [
        INVARIANT_VIEWS[kind] if (kind := _KIND_OF_TOKENS.get(tuple(row))) else (IDENTITY,) for row in tokens
    ]
