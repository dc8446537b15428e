"""Sort-of-CLEVR generator: answers checked against an independent computation, splits, tokenizer."""

import numpy as np
import pytest

from engine import vqa_data
from engine.errors import InvalidInput


def _independent_answers(objects):
    """All answers recomputed from the table with a distance matrix (not vqa_data.answer)."""
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
        out[item.colour] = {"shape": item.shape, "left": "yes" if item.x < 37.5 else "no",
                            "top": "yes" if item.y < 37.5 else "no", "closest": shapes[closest],
                            "furthest": shapes[furthest], "count": str(shapes.count(item.shape))}
    return out


def test_answers_match_an_independent_computation_and_the_pixels():
    for index in range(40):
        item = vqa_data.scene("test", index)
        assert item.image.shape == (75, 75, 3) and item.image.dtype == np.uint8
        assert [obj.colour for obj in item.objects] == list(vqa_data.COLOURS)
        expected = _independent_answers(item.objects)
        for question in vqa_data.all_questions():
            assert vqa_data.answer(item.objects, question.kind, question.colour) == expected[question.colour][question.kind]
        for obj in item.objects:  # the drawn pixel at each centre has the object's colour
            assert tuple(item.image[obj.y, obj.x]) == vqa_data.RGB[obj.colour]
            if obj.shape == "square":  # corners are filled for squares, white for circles
                assert tuple(item.image[obj.y - 5, obj.x - 5]) == vqa_data.RGB[obj.colour]
            else:
                assert tuple(item.image[obj.y - 5, obj.x - 5]) == (255, 255, 255)


def test_scene_arrays_agree_with_answer():
    data = vqa_data.scene_set("validation", 3, 2)
    item = vqa_data.scene("validation", 4)
    for column, question in enumerate(vqa_data.QUESTION_TABLE):
        assert vqa_data.ANSWERS[data.answers[1, column]] == vqa_data.answer(item.objects, question.kind, question.colour)


def test_deterministic_and_disjoint_splits():
    assert vqa_data.scene("train", 5).objects == vqa_data.scene("train", 5).objects
    tables = {split: {vqa_data.scene(split, index).objects for index in range(150)} for split in vqa_data.SPLITS}
    assert len(tables["train"]) == 150
    assert not tables["train"] & tables["validation"] and not tables["train"] & tables["test"]
    assert not tables["validation"] & tables["test"]


def test_tokenizer_and_parse():
    ids = vqa_data.tokenize("What is the SHAPE of the Grey object?")
    assert ids.shape == (vqa_data.MAX_WORDS,) and ids[7] != 0 and ids[8] == 0
    assert [vqa_data.VOCABULARY[i] for i in ids[:8]] == "what is the shape of the gray object".split()
    assert vqa_data.parse("how many objects are the same shape as the red one?").kind == "count"
    assert vqa_data.parse("is the sky blue") is None


@pytest.mark.parametrize("text", ["", "   ", "?!"])
def test_empty_questions_are_refused(text):
    with pytest.raises(InvalidInput, match="Type a question"):
        vqa_data.tokenize(text)


def test_unknown_words_list_the_known_words():
    with pytest.raises(InvalidInput, match=r"Unknown words: colour, purple\. .*know only these words: .*closest"):
        vqa_data.tokenize("what colour is the purple object")
    with pytest.raises(InvalidInput, match="at most"):
        vqa_data.tokenize("the " * 20)


def test_compose_refuses_overlap_and_repeats():
    red = vqa_data.SceneObject("red", "square", 10, 10)
    assert vqa_data.compose([red, vqa_data.SceneObject("blue", "circle", 40, 40)]).image.shape == (75, 75, 3)
    with pytest.raises(InvalidInput, match="overlap"):
        vqa_data.compose([red, vqa_data.SceneObject("blue", "circle", 14, 12)])
    with pytest.raises(InvalidInput, match="once"):
        vqa_data.compose([red, vqa_data.SceneObject("red", "circle", 50, 50)])
    with pytest.raises(InvalidInput, match="centre"):
        vqa_data.compose([vqa_data.SceneObject("red", "circle", 2, 50)])


def _seen(objects, which):
    """The object table a view of its image shows (centres moved as the pixels are)."""
    transpose, mirror, flip = which
    moved = []
    for item in objects:
        x, y = (item.y, item.x) if transpose else (item.x, item.y)
        moved.append(vqa_data.SceneObject(item.colour, item.shape, vqa_data.SIZE - 1 - x if mirror else x,
                                          vqa_data.SIZE - 1 - y if flip else y))
    return moved


def test_each_kind_keeps_its_answer_in_its_invariant_views_and_only_there():
    changed = set()
    for index in range(40):
        objects = vqa_data.scene("validation", index).objects
        for kind in vqa_data.KINDS:
            for which in vqa_data.VIEWS:
                same = all(vqa_data.answer(_seen(objects, which), kind, colour) == vqa_data.answer(objects, kind, colour)
                           for colour in vqa_data.COLOURS)
                if which in vqa_data.INVARIANT_VIEWS[kind]:
                    assert same, (kind, which)
                elif not same:
                    changed.add((kind, which))
    assert {kind for kind, _ in changed} == {"left", "top"}  # the views left out would change their answers


def test_a_view_of_the_image_is_the_image_of_the_moved_table():
    objects = [vqa_data.SceneObject(colour, "circle", 10 + 11 * position, 15 + 7 * position)
               for position, colour in enumerate(vqa_data.COLOURS)]  # circles: symmetric about their centre pixel
    image = vqa_data.render(objects)[None]
    for which in vqa_data.VIEWS:
        expected = vqa_data.render(_seen(objects, which))
        assert np.abs(vqa_data.view(image, which)[0].astype(int) - expected).mean() < 0.5, which


def test_questions_map_to_their_views():
    tokens = np.stack([vqa_data.tokenize("what shape is the red object"), vqa_data.tokenize("is the blue object on the left"),
                       vqa_data.tokenize("red red red")])
    views = vqa_data.invariant_views(tokens)
    assert len(views[0]) == 8 and views[1] == (vqa_data.IDENTITY, (False, False, True)) and views[2] == (vqa_data.IDENTITY,)
