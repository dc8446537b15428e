"""Decoding uploaded images safely and fast.

Uploads are untrusted bytes. We read only the header first (format, size, EXIF orientation), refuse
anything that is not an image, is empty, truncated, or so large that decoding it would exhaust
memory (a "decompression bomb": a few KB of PNG can claim 40000 x 40000 pixels), and only then
decode. A model that needs 224 px does not need all of a 12-megapixel photo: JPEG stores 8x8 DCT
blocks, so libjpeg can decode at 1/2, 1/4 or 1/8 scale for a fraction of the cost (Pillow's
`Image.draft`). EXIF orientation is applied after, so phone photos stand the right way up.
"""

from __future__ import annotations

import dataclasses
import io
import math
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.core.errors import InvalidMedia

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # Same bound as server.maxUploadSize in .streamlit/config.toml
MAX_PIXELS = 64_000_000  # Largest image we agree to decode (a 64-megapixel photo)
MAX_SIDE = 20_000  # Longest side in pixels; panoramas beyond this are refused
MAX_ASPECT_RATIO = 100  # Long side / short side; a 2 x 3000 strip shows nothing and breaks resizing
SUPPORTED_FORMATS = {
    "JPEG": "JPEG",
    "MPO": "JPEG",
    "PNG": "PNG",
    "WEBP": "WebP",
    "BMP": "BMP",
    "GIF": "GIF",
}  # Pillow's name -> the name we show; MPO is a phone JPEG

# First bytes of the supported formats: a file that starts like one but fails to open is damaged.
IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")

# Our own pixel cap is checked before decoding; Pillow's is a second line of defence.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


@dataclasses.dataclass(frozen=True)
class DecodedImage:
    """An upright RGB image and what we learned while decoding it."""

    pixels: np.ndarray  # uint8, shape (height, width, 3), RGB
    format: str  # "JPEG", "PNG", ...
    original_size: tuple[int, int]  # (width, height) as stored in the file, before scaling
    scale: float  # decoded width / stored width (1.0 unless decoded at reduced size)


def describe_limits() -> str:
    """One sentence for pages: which images are accepted."""
    formats = ", ".join(sorted(set(SUPPORTED_FORMATS.values())))
    return (
        f"{formats}; up to {MAX_UPLOAD_BYTES // (1024 * 1024)} MB and {MAX_PIXELS // 1_000_000} megapixels."
    )


def decode_image(data: bytes, min_side: int | None = None) -> DecodedImage:
    """Decode image bytes into an upright RGB array.

    Args:
        data: the file's bytes (JPEG, PNG, WebP, BMP, or the first frame of a GIF).
        min_side: when given, JPEGs may be decoded at 1/2, 1/4 or 1/8 scale as long as the shorter
            side stays at least this many pixels; other formats are decoded at full size.

    Returns:
        The decoded image, EXIF orientation applied.

    Raises:
        InvalidMedia: empty, not an image, unsupported, truncated, or too large.
    """
    if not data:
        raise InvalidMedia("The file is empty. Choose a photo (JPEG, PNG, WebP, BMP or GIF).")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidMedia(
            f"The file is {len(data) / 1e6:.0f} MB; the limit is "
            f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB. Use a smaller image."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))  # Reads the header only.
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise InvalidMedia(
            f"The image claims more pixels than the {MAX_PIXELS // 1_000_000}-megapixel "
            "limit. Resize it and upload again."
        ) from error
    except (UnidentifiedImageError, OSError, ValueError) as error:
        if data.startswith(IMAGE_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
            raise InvalidMedia(
                "The image is damaged or cut short (its header could not be read). Upload the complete file."
            ) from error
        raise InvalidMedia(
            "This file is not an image we can read (its content is not JPEG, PNG, "
            "WebP, BMP or GIF, whatever its name says)."
        ) from error
    if image.format not in SUPPORTED_FORMATS:
        raise InvalidMedia(f"{image.format} images are not supported. Use JPEG, PNG, WebP, BMP or GIF.")
    width, height = image.size
    if width < 1 or height < 1:
        raise InvalidMedia("The image has no pixels.")
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        raise InvalidMedia(
            f"The image claims {width} x {height} pixels, more than the "
            f"{MAX_PIXELS // 1_000_000}-megapixel limit. Resize it and upload again."
        )
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise InvalidMedia(
            f"The image is {width} x {height} pixels: its long side is more than "
            f"{MAX_ASPECT_RATIO} times its short side. Crop it to a less elongated shape."
        )
    scale = 1.0
    if min_side is not None and SUPPORTED_FORMATS[image.format] == "JPEG":
        factor = min(width, height) / min_side
        if factor >= 2:
            # draft() picks the largest DCT reduction whose result is still at least this size.
            requested = (math.ceil(width / factor), math.ceil(height / factor))
            image.draft("RGB", requested)
            scale = image.size[0] / width
    try:
        image.load()
        upright = ImageOps.exif_transpose(image)
        rgb = upright.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise InvalidMedia(
            "The image is damaged or cut short (it could not be decoded to the end). "
            "Upload the complete file."
        ) from error
    return DecodedImage(np.asarray(rgb), SUPPORTED_FORMATS[image.format], (width, height), scale)


def shrink_to(pixels: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Scale an image down (area averaging) so its long side is at most `max_side`.

    Returns:
        (pixels, factor): factor = new size / old size, 1.0 when the image already fits.
    """
    import cv2

    longest = max(pixels.shape[:2])
    if longest <= max_side:
        return pixels, 1.0
    factor = max_side / longest
    size = (max(1, round(pixels.shape[1] * factor)), max(1, round(pixels.shape[0] * factor)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), factor


def decode_within(data: bytes, max_side: int, min_side: int | None = None) -> DecodedImage:
    """Decode at reduced scale (JPEG) and shrink to at most `max_side` on the long side.

    `min_side` bounds the reduced JPEG decode as in `decode_image` (default: half of max_side);
    the returned `scale` counts both steps.
    """
    image = decode_image(data, min_side=min_side or max_side // 2)
    pixels, factor = shrink_to(image.pixels, max_side)
    return dataclasses.replace(image, pixels=pixels, scale=image.scale * factor) if factor < 1 else image


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an RGB or grayscale uint8 array, for downloads."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
