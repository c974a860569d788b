"""Checking an uploaded photo and making its list-size variant (pure: bytes in, bytes out).

The type comes from the first bytes only (never from a file name or a declared type). Pillow
then decodes the image as that type alone, refusing it when its pixel count is over the limit
before any pixel data is decoded (a decompression bomb is a few kilobytes that expand to
gigabytes), and the list-size variant is made once: at most ``thumb_width`` pixels wide, turned
upright from its EXIF orientation, without metadata. The original loses its personal metadata too
(the GPS position of a farmer's phone, see ``metadata.py``), losslessly.
"""

from __future__ import annotations

import io
import threading
import warnings
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageOps, UnidentifiedImageError

from coopmarket.products.metadata import MalformedImage, strip_metadata

ALLOWED_TYPES: dict[str, str] = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
THUMB_TYPES: dict[str, str] = {"webp": "image/webp", "jpeg": "image/jpeg"}
SNIFF_BYTES = 16
# Variants are at most three times as tall as wide (a list cell; extreme panoramas are cut down).
MAX_THUMB_ASPECT = 3
_PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
_ROTATED_ORIENTATIONS = {5, 6, 7, 8}  # EXIF orientations that swap width and height
_EXIF_ORIENTATION = 0x0112
# Decoding is memory-heavy (a 40-megapixel photo is 160 MB as RGBA): at most two at a time.
_decoding = threading.BoundedSemaphore(2)

Refusal = Literal["undecodable", "too_many_pixels"]


class ImageRejected(Exception):
    """The bytes are not an acceptable image; ``reason`` says why."""

    def __init__(self, reason: Refusal, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class CheckedImage:
    original: bytes  # the upload without EXIF/XMP/IPTC/text metadata (orientation kept), pixels as sent
    content_type: str  # of the original, from its first bytes
    width: int  # as displayed (EXIF orientation applied)
    height: int
    thumb: bytes
    thumb_content_type: str


def sniff(head: bytes) -> str | None:
    """The image type the first bytes announce (JPEG, PNG or WebP), or ``None``."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _thumb_mode(image: Image.Image, thumb_format: str) -> Image.Image:
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if not has_alpha:
        return image if image.mode == "RGB" else image.convert("RGB")
    rgba = image.convert("RGBA")
    if thumb_format == "webp":
        return rgba
    flat = Image.new("RGB", rgba.size, (255, 255, 255))  # JPEG has no alpha: flatten onto white
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat


def check_and_thumbnail(
    data: bytes,
    *,
    max_pixels: int,
    thumb_width: int,
    thumb_format: Literal["webp", "jpeg"] = "webp",
) -> CheckedImage:
    """Decode ``data`` as the type its first bytes announce and make the list-size variant.

    Raises :class:`ImageRejected`; a type outside ``ALLOWED_TYPES`` is the caller's to refuse first
    (``sniff``). CPU-bound: run it in a worker thread.
    """
    content_type = sniff(data[:SNIFF_BYTES])
    if content_type is None:
        raise ImageRejected("undecodable", "Not a JPEG, PNG or WebP image.")
    with _decoding, warnings.catch_warnings():
        # The pixel limit below is ours (at most 100 million); Pillow's own warning starts lower.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[content_type]])
        except Image.DecompressionBombError:
            raise ImageRejected("too_many_pixels", "The image has too many pixels.") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise ImageRejected("undecodable", f"The file is not a valid {content_type} image.") from None
        with image:
            width, height = image.size
            if width < 1 or height < 1 or width * height > max_pixels:
                raise ImageRejected(
                    "too_many_pixels",
                    f"The image is {width}×{height} pixels; at most {max_pixels} pixels are accepted.",
                )
            try:
                orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
            except Exception:  # a broken EXIF block is no reason to refuse the photo
                orientation = 1
            rotated = orientation in _ROTATED_ORIENTATIONS
            box = (
                (thumb_width * MAX_THUMB_ASPECT, thumb_width)
                if rotated
                else (
                    thumb_width,
                    thumb_width * MAX_THUMB_ASPECT,
                )
            )
            try:
                if content_type == "image/png":
                    # Chunk checksums and the end marker: a truncated PNG can still decode whole.
                    with Image.open(io.BytesIO(data), formats=["PNG"]) as whole:
                        whole.verify()
                image.draft("RGB", box)  # JPEG: decode at a reduced scale (every block still decoded)
                image.load()
            except (OSError, SyntaxError, ValueError) as exc:
                raise ImageRejected("undecodable", f"The image data is broken: {exc}") from None
            image.thumbnail(box, Image.Resampling.LANCZOS)
            thumb = ImageOps.exif_transpose(image) if orientation != 1 else image
            thumb = _thumb_mode(thumb, thumb_format)
            out = io.BytesIO()
            if thumb_format == "webp":
                thumb.save(out, format="WEBP", quality=80, method=4)
            else:
                thumb.save(out, format="JPEG", quality=82, optimize=True, progressive=True)
    display = (height, width) if rotated else (width, height)
    try:
        original = strip_metadata(data, content_type, orientation if orientation in range(1, 9) else 1)
        with Image.open(io.BytesIO(original), formats=[_PIL_FORMATS[content_type]]) as stripped:
            if stripped.size != (width, height):
                raise MalformedImage("the image changed while its metadata was removed")
    except (MalformedImage, UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected("undecodable", f"The image's structure is broken: {exc}") from None
    return CheckedImage(
        original=original,
        content_type=content_type,
        width=display[0],
        height=display[1],
        thumb=out.getvalue(),
        thumb_content_type=THUMB_TYPES[thumb_format],
    )


__all__ = ["ALLOWED_TYPES", "SNIFF_BYTES", "CheckedImage", "ImageRejected", "check_and_thumbnail", "sniff"]
