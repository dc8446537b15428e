"""A corpus of hostile files, generated in memory (nothing large is committed).

Each `Hostile` is a file as a user could upload it: a name with an extension, its bytes, whether a
page must *accept* it (odd but valid: a 1 x 1 photo, a 16-bit PNG, a GIF of 2,000 frames, 1 MB of
text) or *refuse* it with a clear message (empty, truncated, the wrong type behind a right
extension, decompression bombs, huge dimensions, text that is not UTF-8). `refusal` is a fragment
the message must contain, so a test can tell "refused for the right reason" from "refused".

Video and audio files are made beside their tests (tests/hostile/test_hostile_video.py,
tests/hostile/test_hostile_audio.py), with the same `Hostile` records.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import struct
import zlib

import numpy as np
from PIL import Image

from tests.conftest import SAMPLES


@dataclasses.dataclass(frozen=True)
class Hostile:
    name: str  # file name as uploaded; its extension is what the uploader's type filter sees
    kind: str  # "image" or "text"
    data: bytes
    accept: bool  # True: the page must give a result; False: it must refuse with a message
    refusal: str = ""  # a fragment of the refusal message (lower case), when refused
    why: str = ""  # what the file tests

    def __repr__(self) -> str:  # pytest ids and failure messages: never dump megabytes of bytes
        return f"Hostile({self.name!r}, {len(self.data):,} bytes)"


def _encode(pixels: np.ndarray | Image.Image, image_format: str, **options) -> bytes:
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of zeros: a few KB that decode to width x height pixels."""
    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", body)
        + _png_chunk(b"IEND", b"")
    )


def _jpeg_claiming(data: bytes, width: int, height: int) -> bytes:
    """A JPEG whose frame header (SOF) claims another size: the header lies, the data does not."""
    marker = data.find(b"\xff\xc0")
    if marker < 0:
        marker = data.find(b"\xff\xc2")
    patched = bytearray(data)
    patched[marker + 5 : marker + 9] = struct.pack(">HH", height, width)
    return bytes(patched)


def _jpeg_with_exif(data: bytes, exif_payload: bytes) -> bytes:
    """A JPEG with an APP1 'Exif' segment of our choosing inserted after SOI."""
    segment = b"Exif\0\0" + exif_payload
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment + data[2:]


def _tiff_exif(orientation: int) -> bytes:
    """A minimal little-endian TIFF header with one IFD entry: Orientation (0x0112)."""
    return (
        b"II*\0"
        + struct.pack("<I", 8)
        + struct.pack("<H", 1)
        + struct.pack("<HHII", 0x0112, 3, 1, orientation)
        + struct.pack("<I", 0)
    )


def _gif_frames(count: int, side: int = 8) -> bytes:
    generator = np.random.default_rng(0)
    frames = [
        Image.fromarray(generator.integers(0, 255, (side, side, 3), np.uint8)).convert("P")
        for _ in range(count)
    ]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=10, loop=0)
    return buffer.getvalue()


@functools.cache
def image_files() -> tuple[Hostile, ...]:
    photo = (SAMPLES / "chelsea.jpg").read_bytes()
    small = np.asarray(Image.open(io.BytesIO(photo)).convert("RGB").resize((96, 64)))
    png = _encode(small, "PNG")
    webp = _encode(small, "WEBP")
    gif_header = b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00\x00\x00" + b";"
    deep = (np.linspace(0, 65535, 64 * 96).reshape(64, 96)).astype(np.uint16)
    cmyk = Image.fromarray(small).convert("CMYK")
    rgba = np.dstack([small, np.linspace(0, 255, 64 * 96).reshape(64, 96).astype(np.uint8)])
    refuse, accept = False, True
    return (
        Hostile("empty.jpg", "image", b"", refuse, "empty", "zero bytes"),
        Hostile("one-byte.png", "image", b"\x89", refuse, "not an image", "one byte"),
        Hostile(
            "header-only.jpg",
            "image",
            photo[:600],
            refuse,
            "damaged or cut short",
            "JPEG cut after its headers",
        ),
        Hostile(
            "half.jpg", "image", photo[: len(photo) // 2], refuse, "damaged or cut short", "JPEG cut in half"
        ),
        Hostile("half.png", "image", png[: len(png) // 2], refuse, "damaged or cut short", "PNG cut in half"),
        Hostile(
            "no-iend.png", "image", png[:-12], accept, "", "PNG without its end chunk (all pixels there)"
        ),
        Hostile(
            "bad-crc.png",
            "image",
            png[:29] + b"\0\0\0\0" + png[33:],
            refuse,
            "damaged",
            "PNG header chunk with a wrong CRC",
        ),
        Hostile("half.webp", "image", webp[: len(webp) // 2], refuse, "damaged", "WebP cut in half"),
        Hostile(
            "text.jpg",
            "image",
            b"just some notes, not a photo\n" * 20,
            refuse,
            "not an image",
            "plain text behind .jpg",
        ),
        Hostile(
            "script.png", "image", b"<script>alert('x')</script>", refuse, "not an image", "HTML behind .png"
        ),
        Hostile(
            "document.jpg",
            "image",
            b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n" * 10,
            refuse,
            "not an image",
            "a PDF behind .jpg",
        ),
        Hostile(
            "archive.png", "image", b"PK\x03\x04" + b"\0" * 200, refuse, "not an image", "a ZIP behind .png"
        ),
        Hostile(
            "program.gif",
            "image",
            b"\x7fELF\x02\x01\x01" + b"\0" * 300,
            refuse,
            "not an image",
            "an executable behind .gif",
        ),
        Hostile(
            "vector.png",
            "image",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            refuse,
            "not an image",
            "SVG with a script behind .png",
        ),
        Hostile("tiff.jpg", "image", _encode(small, "TIFF"), refuse, "not supported", "a TIFF behind .jpg"),
        Hostile("icon.png", "image", _encode(small, "ICO"), refuse, "not supported", "an ICO behind .png"),
        Hostile(
            "bomb-144mp.png",
            "image",
            png_bomb(12_000, 12_000),
            refuse,
            "megapixel",
            "decompression bomb: ~20 KB that decode to 144 megapixels",
        ),
        Hostile(
            "bomb-header.jpg",
            "image",
            _jpeg_claiming(photo, 60_000, 60_000),
            refuse,
            "megapixel",
            "JPEG header claiming 60000 x 60000",
        ),
        Hostile(
            "screen-bomb.gif",
            "image",
            gif_header,
            refuse,
            "damaged",
            "GIF claiming a 65535 x 65535 screen, no frame",
        ),
        Hostile(
            "huge-but-legal.png",
            "image",
            png_bomb(7_900, 7_900),
            accept,
            "",
            "8 KB that decode to 62 megapixels, just under the limit",
        ),
        Hostile(
            "too-wide.png",
            "image",
            png_bomb(25_000, 2),
            refuse,
            "megapixel",
            "25000 px wide: over the side limit",
        ),
        Hostile(
            "one-pixel.png",
            "image",
            _encode(np.full((1, 1, 3), 200, np.uint8), "PNG"),
            accept,
            "",
            "1 x 1 px",
        ),
        Hostile(
            "strip.png",
            "image",
            _encode(np.full((2, 3000, 3), 90, np.uint8), "PNG"),
            refuse,
            "less elongated",
            "2 x 3000 px strip: 1500 times longer than wide",
        ),
        Hostile(
            "tall-strip.jpg",
            "image",
            _encode(np.full((4000, 3, 3), 30, np.uint8), "JPEG"),
            refuse,
            "less elongated",
            "3 x 4000 px JPEG strip",
        ),
        Hostile(
            "long-strip.png",
            "image",
            _encode(np.tile(np.linspace(0, 255, 1900, dtype=np.uint8)[None, :, None], (20, 1, 3)), "PNG"),
            accept,
            "",
            "1900 x 20 px: 95 times longer than wide, just inside the limit",
        ),
        Hostile(
            "tall-strip-ok.jpg",
            "image",
            _encode(np.full((3000, 40, 3), 30, np.uint8), "JPEG"),
            accept,
            "",
            "40 x 3000 px JPEG (reduced-scale decoding of a strip)",
        ),
        Hostile("grey16.png", "image", _encode(deep, "PNG"), accept, "", "16-bit greyscale PNG"),
        Hostile("cmyk.jpg", "image", _encode(cmyk, "JPEG"), accept, "", "CMYK JPEG"),
        Hostile("alpha.png", "image", _encode(rgba, "PNG"), accept, "", "RGBA PNG"),
        Hostile(
            "bilevel.bmp",
            "image",
            _encode(Image.fromarray(small).convert("1"), "BMP"),
            accept,
            "",
            "1-bit BMP",
        ),
        Hostile("frames-2000.gif", "image", _gif_frames(2000), accept, "", "animated GIF of 2,000 frames"),
        Hostile(
            "all-black.jpg",
            "image",
            _encode(np.zeros((300, 400, 3), np.uint8), "JPEG"),
            accept,
            "",
            "a black photo (no gradient, no object)",
        ),
        Hostile(
            "exif-rotation-9.jpg",
            "image",
            _jpeg_with_exif(photo, _tiff_exif(9)),
            accept,
            "",
            "EXIF orientation 9 (no such value)",
        ),
        Hostile(
            "exif-garbage.jpg",
            "image",
            _jpeg_with_exif(photo, b"MM\0*\xff\xff\xff\xff" + b"\x13" * 64),
            accept,
            "",
            "EXIF segment whose first directory points past the end",
        ),
        Hostile(
            "bmp-bad-header.bmp",
            "image",
            b"BM"
            + struct.pack("<IHHI", 70, 0, 0, 54)
            + struct.pack("<IiiHHIIiiII", 40, 1 << 30, 1 << 30, 1, 24, 0, 0, 0, 0, 0, 0),
            refuse,
            "",
            "BMP header claiming 2^30 x 2^30",
        ),
    )


def _text(value: str) -> bytes:
    return value.encode("utf-8")


@functools.cache
def text_files() -> tuple[Hostile, ...]:
    sentence = "The service was friendly and the food arrived quickly. "
    refuse, accept = False, True
    return (
        Hostile("empty.txt", "text", b"", refuse, "empty", "zero bytes"),
        Hostile("blank.txt", "text", b" \n\t\r\n   ", refuse, "empty", "whitespace only"),
        Hostile("bom-only.txt", "text", b"\xef\xbb\xbf", refuse, "empty", "a UTF-8 byte-order mark only"),
        Hostile(
            "megabyte.txt",
            "text",
            _text(sentence * (1_048_576 // len(sentence))),
            accept,
            "",
            "1 MB of text (cut to the first 10,000 characters, with a notice)",
        ),
        Hostile(
            "eleven-megabytes.txt",
            "text",
            b"word " * (11 * 1024 * 1024 // 5),
            refuse,
            "limit",
            "11 MB: over the text limit",
        ),
        Hostile("one-long-word.txt", "text", b"a" * 1_000_000, accept, "", "1 MB without a space"),
        Hostile(
            "control-characters.txt",
            "text",
            _text("great\x00 \x07flight\x1b[31m red \x08\x0c\x7f thanks\u202e reversed \u200b\u200d crew"),
            accept,
            "",
            "NUL, bell, ANSI escape, backspace, DEL, right-to-left override, zero-width joiners",
        ),
        Hostile(
            "only-controls.txt",
            "text",
            bytes(range(1, 32)) * 10,
            refuse,
            "no words",
            "control characters only",
        ),
        Hostile(
            "html-script.txt",
            "text",
            _text('<script>alert("x")</script><b>awful</b> <img src=x onerror="alert(1)"> flight'),
            accept,
            "",
            "HTML and script",
        ),
        Hostile(
            "markdown.txt",
            "text",
            _text("**bold** [click](javascript:alert(1)) $x^2$ :red[loved] it"),
            accept,
            "",
            "Markdown, LaTeX and Streamlit colour directives",
        ),
        Hostile(
            "latin1.txt",
            "text",
            "café crème très bon".encode("latin-1"),
            refuse,
            "not utf-8",
            "Latin-1, not UTF-8",
        ),
        Hostile(
            "utf16.txt", "text", "a good day".encode("utf-16"), refuse, "not utf-8", "UTF-16 with its BOM"
        ),
        Hostile(
            "surrogate.txt",
            "text",
            b"bad \xed\xa0\x80 bytes",
            refuse,
            "not utf-8",
            "an encoded lone surrogate",
        ),
        Hostile(
            "picture.txt",
            "text",
            (SAMPLES / "coffee.jpg").read_bytes()[:4096],
            refuse,
            "not utf-8",
            "JPEG bytes behind .txt",
        ),
        Hostile(
            "emoji-only.txt",
            "text",
            _text("\U0001f600\U0001f525\U0001f44d" * 50),
            refuse,
            "no words",
            "emoji only",
        ),
        Hostile(
            "zalgo.txt",
            "text",
            _text("g\u0334\u0315o\u0336\u0321o\u0337d" * 200 + " service"),
            accept,
            "",
            "combining marks piled on letters",
        ),
        Hostile(
            "newlines-then-words.txt",
            "text",
            b"\n" * 200_000 + b"terrible delay",
            refuse,
            "first 10,000",
            "200,000 newlines, the words after the part that is read",
        ),
        Hostile("arabic.txt", "text", _text("الخدمة كانت ممتازة جدا"), accept, "", "right-to-left script"),
    )


def corpus() -> tuple[Hostile, ...]:
    return image_files() + text_files()


def sample(kind: str, count: int) -> tuple[Hostile, ...]:
    """A fixed, representative subset: refusals of different kinds first, then accepted files."""
    files = image_files() if kind == "image" else text_files()
    refused = [item for item in files if not item.accept]
    accepted = [item for item in files if item.accept]
    step = max(1, len(refused) // max(1, count - 1))
    return tuple(refused[::step][: count - 1] + accepted[:1])
