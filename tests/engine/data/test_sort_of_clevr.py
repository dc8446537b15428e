"""Sort-of-CLEVR generator: answers checked against an independent computation, splits, tokenizer."""

import numpy as np
import pytest

from engine.core.errors import InvalidInput
from engine.data import sort_of_clevr


def _independent_answers(objects):
    """All answers recomputed from the table with a distance matrix (not sort_of_clevr.answer)."""
    centres = np.array([(item.x, item.y) for item in objects], float)
    distance = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
    shapes = [item.shape for item in objects]
    out = {}
    for row, item in enumerate(objects):
        others = distance[row].copy()
        others[row] = np.inf
        closest = int(np.argmin(others))
        others[row] = -np.inf
        furthest = int(np.argmax(others))
        out[item.colour] = {
            "shape": item.shape,
            "left": "yes" if item.x < 37.5 else "no",
            "top": "yes" if item.y < 37.5 else "no",
            "closest": shapes[closest],
            "furthest": shapes[furthest],
            "count": str(shapes.count(item.shape)),
        }
    return out


def test_answers_match_an_independent_computation_and_the_pixels():
    for index in range(40):
        item = sort_of_clevr.scene("test", index)
        assert item.image.shape == (75, 75, 3) and item.image.dtype == np.uint8
        assert [obj.colour for obj in item.objects] == list(sort_of_clevr.COLOURS)
        expected = _independent_answers(item.objects)
        for question in sort_of_clevr.all_questions():
            assert (
                sort_of_clevr.answer(item.objects, question.kind, question.colour)
                == expected[question.colour][question.kind]
            )
        for obj in item.objects:  # the drawn pixel at each centre has the object's colour
            assert tuple(item.image[obj.y, obj.x]) == sort_of_clevr.RGB[obj.colour]
            if obj.shape == "square":  # corners are filled for squares, white for circles
                assert tuple(item.image[obj.y - 5, obj.x - 5]) == sort_of_clevr.RGB[obj.colour]
            else:
                assert tuple(item.image[obj.y - 5, obj.x - 5]) == (255, 255, 255)


def test_scene_arrays_agree_with_answer():
    data = sort_of_clevr.scene_set("validation", 3, 2)
    item = sort_of_clevr.scene("validation", 4)
    for column, question in enumerate(sort_of_clevr.QUESTION_TABLE):
        assert sort_of_clevr.ANSWERS[data.answers[1, column]] == sort_of_clevr.answer(
            item.objects, question.kind, question.colour
        )


def test_deterministic_and_disjoint_splits():
    assert sort_of_clevr.scene("train", 5).objects == sort_of_clevr.scene("train", 5).objects
    tables = {
        split: {sort_of_clevr.scene(split, index).objects for index in range(150)}
        for split in sort_of_clevr.SPLITS
    }
    assert len(tables["train"]) == 150
    assert not tables["train"] & tables["validation"] and not tables["train"] & tables["test"]
    assert not tables["validation"] & tables["test"]


def test_tokenizer_and_parse():
    ids = sort_of_clevr.tokenize("What is the SHAPE of the Grey object?")
    assert ids.shape == (sort_of_clevr.MAX_WORDS,) and ids[7] != 0 and ids[8] == 0
    assert [sort_of_clevr.VOCABULARY[i] for i in ids[:8]] == "what is the shape of the gray object".split()
    assert sort_of_clevr.parse("how many objects are the same shape as the red one?").kind == "count"
    assert sort_of_clevr.parse("is the sky blue") is None


@pytest.mark.parametrize("text", ["", "   ", "?!"])
def test_empty_questions_are_refused(text):
    with pytest.raises(InvalidInput, match="Type a question"):
        sort_of_clevr.tokenize(text)


def test_unknown_words_list_the_known_words():
    with pytest.raises(
        InvalidInput, match=r"Unknown words: colour, purple\. .*know only these words: .*closest"
    ):
        sort_of_clevr.tokenize("what colour is the purple object")
    with pytest.raises(InvalidInput, match="at most"):
        sort_of_clevr.tokenize("the " * 20)


def test_compose_refuses_overlap_and_repeats():
    red = sort_of_clevr.SceneObject("red", "square", 10, 10)
    assert sort_of_clevr.compose([red, sort_of_clevr.SceneObject("blue", "circle", 40, 40)]).image.shape == (
        75,
        75,
        3,
    )
    with pytest.raises(InvalidInput, match="overlap"):
        sort_of_clevr.compose([red, sort_of_clevr.SceneObject("blue", "circle", 14, 12)])
    with pytest.raises(InvalidInput, match="once"):
        sort_of_clevr.compose([red, sort_of_clevr.SceneObject("red", "circle", 50, 50)])
    with pytest.raises(InvalidInput, match="centre"):
        sort_of_clevr.compose([sort_of_clevr.SceneObject("red", "circle", 2, 50)])


def _seen(objects, which):
    """The object table a view of its image shows (centres moved as the pixels are)."""
    transpose, mirror, flip = which
    moved = []
    for item in objects:
        x, y = (item.y, item.x) if transpose else (item.x, item.y)
        moved.append(
            sort_of_clevr.SceneObject(
                item.colour,
                item.shape,
                sort_of_clevr.SIZE - 1 - x if mirror else x,
                sort_of_clevr.SIZE - 1 - y if flip else y,
            )
        )
    return moved


def test_each_kind_keeps_its_answer_in_its_invariant_views_and_only_there():
    changed = set()
    for index in range(40):
        objects = sort_of_clevr.scene("validation", index).objects
        for kind in sort_of_clevr.KINDS:
            for which in sort_of_clevr.VIEWS:
                same = all(
                    sort_of_clevr.answer(_seen(objects, which), kind, colour)
                    == sort_of_clevr.answer(objects, kind, colour)
                    for colour in sort_of_clevr.COLOURS
                )
                if which in sort_of_clevr.INVARIANT_VIEWS[kind]:
                    assert same, (kind, which)
                elif not same:
                    changed.add((kind, which))
    assert {kind for kind, _ in changed} == {"left", "top"}  # the views left out would change their answers


def test_a_view_of_the_image_is_the_image_of_the_moved_table():
    objects = [
        sort_of_clevr.SceneObject(colour, "circle", 10 + 11 * position, 15 + 7 * position)
        for position, colour in enumerate(sort_of_clevr.COLOURS)
    ]  # circles: symmetric about their centre pixel
    image = sort_of_clevr.render(objects)[None]
    for which in sort_of_clevr.VIEWS:
        expected = sort_of_clevr.render(_seen(objects, which))
        assert np.abs(sort_of_clevr.view(image, which)[0].astype(int) - expected).mean() < 0.5, which


def test_questions_map_to_their_views():
    tokens = np.stack(
        [
            sort_of_clevr.tokenize("what shape is the red object"),
            sort_of_clevr.tokenize("is the blue object on the left"),
            sort_of_clevr.tokenize("red red red"),
        ]
    )
    views = sort_of_clevr.invariant_views(tokens)
    assert (
        len(views[0]) == 8
        and views[1] == (sort_of_clevr.IDENTITY, (False, False, True))
        and views[2] == (sort_of_clevr.IDENTITY,)
    )
