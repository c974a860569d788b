"""Personal metadata leaves a photo, its pixels and colours do not (pure, lossless)."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms
from PIL.PngImagePlugin import PngInfo

from coopmarket.products.metadata import MalformedImage, strip_metadata

GPS_IFD = 0x8825
MAKE = 0x010F
ORIENTATION = 0x0112
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
FORMATS = [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]


def _photo_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE] = "FarmPhone X"
    if orientation != 1:
        exif[ORIENTATION] = orientation
    exif[GPS_IFD] = {1: "N", 2: (36.0, 42.0, 30.0), 3: "E", 4: (119.0, 10.0, 0.0)}
    return exif


def _icc() -> bytes:
    profile: bytes = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return profile


def _image(size: tuple[int, int] = (64, 48)) -> Image.Image:
    image = Image.new("RGB", size, (200, 120, 40))
    image.paste((20, 90, 200), (0, 0, size[0] // 2, size[1] // 2))
    return image


def _encode(fmt: str, image: Image.Image, **extra: object) -> bytes:
    out = io.BytesIO()
    options: dict[str, object] = {"lossless": True} if fmt == "WEBP" else {}
    if fmt == "JPEG":
        options["quality"] = 95
    image.save(out, format=fmt, **options, **extra)
    return out.getvalue()


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


@pytest.mark.parametrize(("fmt", "content_type"), FORMATS)
def test_gps_make_and_xmp_are_removed_and_the_pixels_and_colour_profile_kept(
    fmt: str, content_type: str
) -> None:
    # Given a phone photo with GPS position, camera make, XMP and an ICC colour profile
    data = _encode(fmt, _image(), exif=_photo_exif(), xmp=XMP, icc_profile=_icc())
    with Image.open(io.BytesIO(data)) as before:
        assert GPS_IFD in before.getexif()

    # When its metadata is stripped
    stripped = strip_metadata(data, content_type)

    # Then no EXIF or XMP is left, the colour profile is, and every pixel is the same
    with Image.open(io.BytesIO(stripped)) as after:
        assert dict(after.getexif()) == {}
        assert "xmp" not in after.info
        assert after.info.get("icc_profile") == _icc()
        assert after.format == fmt
    assert _pixels(stripped) == _pixels(data)
    assert b"FarmPhone" not in stripped
    assert len(stripped) < len(data)


@pytest.mark.parametrize(("fmt", "content_type"), FORMATS)
def test_the_orientation_alone_survives(fmt: str, content_type: str) -> None:
    data = _encode(fmt, _image(), exif=_photo_exif(orientation=6), icc_profile=_icc())
    stripped = strip_metadata(data, content_type, orientation=6)
    with Image.open(io.BytesIO(stripped)) as after:
        assert dict(after.getexif()) == {ORIENTATION: 6}
    assert b"FarmPhone" not in stripped
    assert _pixels(stripped) == _pixels(data)


def test_png_text_chunks_are_removed_and_the_file_stays_valid() -> None:
    info = PngInfo()
    info.add_text("Author", "赵建国 13912345678", zip=False)
    info.add_text("Location", "赵家村 8 号", zip=True)
    info.add_itxt("Comment", "内部资料", lang="zh")
    data = _encode("PNG", _image(), pnginfo=info)
    stripped = strip_metadata(data, "image/png")
    with Image.open(io.BytesIO(stripped)) as check:
        check.verify()  # chunk checksums and the end marker
    with Image.open(io.BytesIO(stripped)) as after:
        assert after.text == {}
    assert _pixels(stripped) == _pixels(data)


@settings(max_examples=25, deadline=None)
@given(
    fmt=st.sampled_from(FORMATS),
    width=st.integers(min_value=1, max_value=40),
    height=st.integers(min_value=1, max_value=40),
    colour=st.tuples(*[st.integers(min_value=0, max_value=255)] * 3),
    with_exif=st.booleans(),
)
def test_stripping_keeps_pixels_and_is_idempotent(
    fmt: tuple[str, str], width: int, height: int, colour: tuple[int, int, int], with_exif: bool
) -> None:
    name, content_type = fmt
    extra: dict[str, object] = {"exif": _photo_exif()} if with_exif else {}
    data = _encode(name, Image.new("RGB", (width, height), colour), **extra)
    once = strip_metadata(data, content_type)
    assert _pixels(once) == _pixels(data)
    assert strip_metadata(once, content_type) == once


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"\xff\xd8\xff\xe1\xff\xff", "image/jpeg"),  # a segment longer than the file
        (b"\xff\xd8\x00\x00", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", "image/png"),  # truncated, no IEND
        (b"RIFF\xff\xff\xff\x00WEBPVP8 ", "image/webp"),
        (b"hello", "image/gif"),
    ],
)
def test_a_structure_that_cannot_be_walked_is_refused(data: bytes, content_type: str) -> None:
    with pytest.raises(MalformedImage):
        strip_metadata(data, content_type)
