"""Dropping personal metadata from a photo without touching its pixels (pure: bytes in, bytes out).

A phone photo carries EXIF (the GPS position of where it was taken: a farmer's home or field,
the phone's make and serial, the time), XMP and IPTC blocks. Product photos are public, so those
blocks are removed from the stored original, losslessly: the image data is copied byte for byte.
What decides how the photo looks stays: the ICC colour profile, Adobe's colour-transform marker
and the EXIF orientation (written back as a minimal EXIF block holding only the orientation).

JPEG: APP1 (EXIF, XMP), APP13 (IPTC/Photoshop) and COM segments before the scan are dropped.
PNG: eXIf, tEXt, zTXt and iTXt chunks are dropped. WebP (extended format): EXIF and XMP chunks
are dropped and the VP8X flags and RIFF size updated.
"""

from __future__ import annotations

import struct
import zlib

from PIL import Image

_ORIENTATION = 0x0112


class MalformedImage(ValueError):
    """The container structure cannot be walked (the caller refuses the photo)."""


def _orientation_exif(orientation: int) -> bytes:
    """``Exif\\0\\0`` and a TIFF block holding only the orientation tag."""
    exif = Image.Exif()
    exif[_ORIENTATION] = orientation
    data: bytes = exif.tobytes()
    return data


def _orientation_tiff(orientation: int) -> bytes:
    """The same TIFF block without the ``Exif\\0\\0`` prefix (as PNG's eXIf and WebP's EXIF hold it)."""
    return _orientation_exif(orientation).removeprefix(b"Exif\x00\x00")


def strip_jpeg(data: bytes, orientation: int = 1) -> bytes:
    if data[:2] != b"\xff\xd8":
        raise MalformedImage("not a JPEG")
    out = bytearray(b"\xff\xd8")
    if orientation != 1:
        payload = _orientation_exif(orientation)
        out += b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    pos = 2
    while pos < len(data):
        if data[pos] != 0xFF:
            raise MalformedImage(f"no marker at byte {pos}")
        marker = data[pos + 1] if pos + 1 < len(data) else -1
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            out += data[pos : pos + 2]
            pos += 2
            continue
        if marker in (0xDA, 0xD9):  # start of scan (or an image without one): the rest is image data
            out += data[pos:]
            return bytes(out)
        if pos + 4 > len(data):
            raise MalformedImage("truncated segment header")
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise MalformedImage("segment length out of range")
        if marker not in (0xE1, 0xED, 0xFE):  # keep all but APP1, APP13, COM
            out += data[pos:end]
        pos = end
    raise MalformedImage("no scan")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_DROPPED = {b"eXIf", b"tEXt", b"zTXt", b"iTXt"}


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def strip_png(data: bytes, orientation: int = 1) -> bytes:
    if not data.startswith(_PNG_SIGNATURE):
        raise MalformedImage("not a PNG")
    out = bytearray(_PNG_SIGNATURE)
    pos = len(_PNG_SIGNATURE)
    while pos < len(data):
        if pos + 8 > len(data):
            raise MalformedImage("truncated chunk header")
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise MalformedImage("chunk length out of range")
        if kind not in _PNG_DROPPED:
            out += data[pos:end]
        if kind == b"IHDR" and orientation != 1:  # eXIf must come before the image data
            out += _png_chunk(b"eXIf", _orientation_tiff(orientation))
        pos = end
        if kind == b"IEND":
            return bytes(out)
    raise MalformedImage("no IEND chunk")


_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def strip_webp(data: bytes, orientation: int = 1) -> bytes:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise MalformedImage("not a WebP")
    (riff_size,) = struct.unpack("<I", data[4:8])
    if riff_size + 8 > len(data) or riff_size < 4:
        raise MalformedImage("RIFF size out of range")
    chunks = bytearray()
    pos = 12
    while pos < riff_size + 8:
        if pos + 8 > len(data):
            raise MalformedImage("truncated chunk header")
        kind = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        end = pos + 8 + length + (length & 1)  # chunks are padded to an even size
        if end > len(data):
            raise MalformedImage("chunk length out of range")
        chunk = bytearray(data[pos:end])
        if kind == b"VP8X" and length >= 1:
            chunk[8] &= ~(_VP8X_EXIF | _VP8X_XMP) & 0xFF
            if orientation != 1:
                chunk[8] |= _VP8X_EXIF
        if kind not in (b"EXIF", b"XMP "):
            chunks += chunk
        pos = end
    if orientation != 1 and chunks[:4] == b"VP8X":  # EXIF comes after the image data
        payload = _orientation_tiff(orientation)
        chunks += b"EXIF" + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) & 1 else b"")
    return b"RIFF" + struct.pack("<I", len(chunks) + 4) + b"WEBP" + bytes(chunks)


def strip_metadata(data: bytes, content_type: str, orientation: int = 1) -> bytes:
    """``data`` without EXIF/XMP/IPTC/text blocks, keeping only the orientation; pixels untouched."""
    if content_type == "image/jpeg":
        return strip_jpeg(data, orientation)
    if content_type == "image/png":
        return strip_png(data, orientation)
    if content_type == "image/webp":
        return strip_webp(data, orientation)
    raise MalformedImage(f"no metadata rule for {content_type}")


__all__ = ["MalformedImage", "strip_jpeg", "strip_metadata", "strip_png", "strip_webp"]
