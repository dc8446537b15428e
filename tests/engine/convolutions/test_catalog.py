import numpy as np
import pytest

from engine.convolutions import catalog as convolutions
from engine.convolutions.catalog import ConvSettings
from engine.core.errors import InvalidInput


def by_kind(settings):
    return {d.kind: d for d in convolutions.describe(settings)}


def test_weight_counts_follow_the_chapter_formulas():
    settings = ConvSettings(height=32, width=32, in_channels=16, out_channels=32, kernel=3)
    described = by_kind(settings)
    i, o, k = 16, 32, 9
    assert described["basic"].weights == i * o * k
    assert described["dilated"].weights == i * o * k
    assert described["transposed"].weights == i * o * k
    assert described["depthwise"].weights == i * k
    assert described["depthwise separable"].weights == i * k + i * o
    assert described["spatially separable"].weights == i * o * 3 + o * 3


def test_output_shapes_match_convolution_arithmetic():
    settings = ConvSettings(height=9, width=11, in_channels=3, out_channels=5, kernel=3, stride=2, dilation=1)
    described = by_kind(settings)
    assert described["basic"].output_shape == (4, 5, 5)  # floor((n - k) / s) + 1
    assert described["depthwise"].output_shape == (4, 5, 3)  # channels stay I
    assert described["transposed"].output_shape == (19, 23, 5)  # (n - 1) s + k
    same = by_kind(ConvSettings(height=9, width=11, kernel=5, padding="same", dilation=3))
    assert same["dilated"].output_shape == (9, 11, 8)


def test_dilated_receptive_field_has_holes():
    fields = convolutions.receptive_fields("dilated", ConvSettings(height=9, width=9, kernel=3, dilation=2))
    field = fields.fields[0, 0]
    assert field.sum() == 9  # still nine weights...
    rows, cols = np.nonzero(field)
    assert set(rows) == {0, 2, 4} and set(cols) == {0, 2, 4}  # ...spread over a 5 x 5 window


def test_transposed_convolution_spreads_one_input_over_a_patch():
    fields = convolutions.receptive_fields("transposed", ConvSettings(height=4, width=4, kernel=3, stride=2))
    assert fields.output_shape == (9, 9)
    spread = fields.fields[:, :, 1, 1]  # outputs fed by input (1, 1)
    rows, cols = np.nonzero(spread)
    assert spread.sum() == 9 and (rows.min(), cols.min()) == (2, 2)


def test_separable_gaussian_two_1d_passes_equal_the_2d_kernel():
    gray = np.random.default_rng(0).uniform(0, 255, (40, 50)).astype(np.float32)
    two_pass, one_pass = convolutions.separable_versus_full(gray, size=7, sigma=2.0)
    np.testing.assert_allclose(two_pass, one_pass, atol=1e-3)
    assert not np.allclose(two_pass, gray, atol=1.0)  # and it did blur


def test_effects_on_an_image_have_the_right_shapes():
    pixels = np.zeros((40, 60, 3), np.uint8)
    pixels[:, 30:] = 255  # one vertical edge
    results = {r.kind: r for r in convolutions.apply_to_image(pixels)}
    assert set(results) == set(convolutions.KINDS)
    assert results["transposed"].image.shape == (80, 120, 3)
    edges = results["basic"].image.astype(int) - 128
    assert np.abs(edges[:, 28:32]).max() > 100 and np.abs(edges[:, 5:20]).max() < 5


@pytest.mark.parametrize(
    "settings, message",
    [
        (ConvSettings(stride=2, dilation=2), "stride above 1 with a dilation above 1"),
        (ConvSettings(height=3, width=3, kernel=5), "must fit"),
        (ConvSettings(kernel=99), "Kernel size"),
        (ConvSettings(padding="reflect"), "Padding must be"),
    ],
)
def test_bad_settings_get_clear_errors(settings, message):
    with pytest.raises(InvalidInput, match=message):
        convolutions.describe(settings)


def test_receptive_field_picture_is_bounded():
    with pytest.raises(InvalidInput, match="up to"):
        convolutions.receptive_fields("basic", ConvSettings(height=100, width=100))
