import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from engine.core import media
from engine.core.errors import InvalidMedia
from tests.conftest import encode


def png_header_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size: a decompression bomb's calling card."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat_data = zlib.compress(b"\x00" * 16)
    idat = (
        struct.pack(">I", len(idat_data))
        + b"IDAT"
        + idat_data
        + struct.pack(">I", zlib.crc32(b"IDAT" + idat_data))
    )
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat + b"\x00\x00\x00\x00IEND\xaeB`\x82"


@pytest.mark.parametrize(
    "data, message",
    [
        (png_header_claiming(12000, 12000), "megapixel limit"),  # above our cap, below Pillow's
        (b"", "empty"),
        (b"just some text, not a picture\n" * 10, "not an image"),
        (png_header_claiming(40000, 40000), "megapixel limit"),
    ],
    ids=["bomb-12000px", "empty", "text-named-png", "bomb-40000px"],
)
def test_bad_bytes_raise_a_clear_error(data, message):
    with pytest.raises(InvalidMedia, match=message):
        media.decode_image(data)


def test_truncated_jpeg_is_refused(chelsea_bytes):
    with pytest.raises(InvalidMedia, match="damaged or cut short"):
        media.decode_image(chelsea_bytes[: len(chelsea_bytes) // 2])


def test_upload_over_the_byte_limit_is_refused(monkeypatch, chelsea_bytes):
    monkeypatch.setattr(media, "MAX_UPLOAD_BYTES", 1000)
    with pytest.raises(InvalidMedia, match="limit"):
        media.decode_image(chelsea_bytes)


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP", "BMP", "GIF"])
def test_each_supported_format_decodes_to_rgb(image_format):
    pixels = np.zeros((30, 40, 3), np.uint8)
    pixels[:, :20] = (255, 0, 0)
    decoded = media.decode_image(encode(pixels, image_format))
    assert decoded.pixels.shape == (30, 40, 3)
    assert decoded.pixels.dtype == np.uint8
    # The left half stays red whatever the codec's losses.
    assert decoded.pixels[15, 5, 0] > 200 and decoded.pixels[15, 5, 2] < 60


def test_grayscale_and_alpha_become_rgb():
    gray = media.decode_image(encode(np.full((8, 8), 128, np.uint8), "PNG"))
    rgba = media.decode_image(encode(np.full((8, 8, 4), 200, np.uint8), "PNG"))
    assert gray.pixels.shape == (8, 8, 3) and rgba.pixels.shape == (8, 8, 3)


def test_exif_orientation_is_applied():
    pixels = np.zeros((100, 200, 3), np.uint8)  # landscape as stored
    pixels[:, :100] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    decoded = media.decode_image(encode(pixels, "JPEG", exif=exif.tobytes()))
    assert decoded.pixels.shape[:2] == (200, 100)  # displayed as portrait
    assert decoded.pixels[5, 50].mean() > 200  # the white half is now on top
    assert decoded.pixels[195, 50].mean() < 60


def test_large_jpeg_is_decoded_at_reduced_scale_but_not_below_min_side():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (1200, 1600, 3), dtype=np.uint8)
    decoded = media.decode_image(encode(pixels, "JPEG"), min_side=224)
    assert decoded.original_size == (1600, 1200)
    assert decoded.scale == pytest.approx(1 / 4)  # 1/8 would leave a 150 px short side
    assert min(decoded.pixels.shape[:2]) >= 224


def test_reduced_decoding_keeps_exif_orientation():
    pixels = np.zeros((1200, 1600, 3), np.uint8)
    pixels[:, :800] = 255
    exif = Image.Exif()
    exif[0x0112] = 8  # "rotate 90 counter-clockwise to display"
    decoded = media.decode_image(encode(pixels, "JPEG", exif=exif.tobytes()), min_side=224)
    height, width = decoded.pixels.shape[:2]
    assert height > width and decoded.scale < 1
    assert decoded.pixels[-5, width // 2].mean() > 200  # white half now at the bottom


def test_decode_within_shrinks_to_the_long_side_and_counts_the_scale():
    pixels = np.random.default_rng(1).integers(0, 255, (1200, 1600, 3), dtype=np.uint8)
    decoded = media.decode_within(encode(pixels, "PNG"), 1000)  # PNG: no reduced decode, one resize
    assert decoded.pixels.shape == (750, 1000, 3) and decoded.scale == pytest.approx(1000 / 1600)
    small = media.decode_within(encode(pixels[:100, :100], "PNG"), 1000)
    assert small.pixels.shape == (100, 100, 3) and small.scale == 1.0
