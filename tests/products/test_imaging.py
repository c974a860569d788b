"""Checking an uploaded photo and making its list-size variant (pure: bytes in, bytes out)."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from coopmarket.products.imaging import ImageRejected, check_and_thumbnail, sniff
from tests.products.image_builders import image_bytes

LIMIT = 40_000_000


def _decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_the_type_comes_from_the_first_bytes(fmt: str, content_type: str) -> None:
    assert sniff(image_bytes(fmt, (20, 20))[:16]) == content_type


@pytest.mark.parametrize(
    "head",
    [b"", b"GIF89a", b"<svg xmlns=", b"RIFF\x00\x00\x00\x00WAVE", b"BM", b"\xff\xd8", b"%PDF-1.7", b"hello"],
)
def test_other_first_bytes_are_no_photo(head: bytes) -> None:
    assert sniff(head) is None


@given(st.binary(max_size=16))
def test_sniffing_never_fails_and_only_names_allowed_types(head: bytes) -> None:
    assert sniff(head) in (None, "image/jpeg", "image/png", "image/webp")


def test_the_variant_is_at_most_the_thumbnail_width_and_keeps_the_aspect() -> None:
    checked = check_and_thumbnail(image_bytes("JPEG", (3000, 2000)), max_pixels=LIMIT, thumb_width=400)
    assert (checked.content_type, checked.width, checked.height) == ("image/jpeg", 3000, 2000)
    assert checked.thumb_content_type == "image/webp"
    thumb = _decoded(checked.thumb)
    assert (thumb.format, thumb.size) == ("WEBP", (400, 267))


def test_a_small_photo_is_not_enlarged() -> None:
    checked = check_and_thumbnail(image_bytes("PNG", (300, 200)), max_pixels=LIMIT, thumb_width=400)
    assert _decoded(checked.thumb).size == (300, 200)


def test_a_very_tall_photo_is_cut_down_to_three_times_its_width() -> None:
    checked = check_and_thumbnail(image_bytes("PNG", (500, 5000)), max_pixels=LIMIT, thumb_width=400)
    assert _decoded(checked.thumb).size == (120, 1200)


def test_an_exif_rotated_phone_photo_is_upright_and_loses_its_metadata() -> None:
    # Given a landscape JPEG whose EXIF says "rotate 90°" (how phones store portrait photos), with GPS
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x8825] = {1: "N", 2: (36.0, 42.0, 0.0)}
    out = io.BytesIO()
    Image.new("RGB", (800, 400), "red").save(out, format="JPEG", exif=exif)

    checked = check_and_thumbnail(out.getvalue(), max_pixels=LIMIT, thumb_width=400, thumb_format="jpeg")

    # Then its size is as displayed (portrait) and the variant is upright, without EXIF
    assert (checked.width, checked.height) == (400, 800)
    thumb = _decoded(checked.thumb)
    assert (thumb.format, thumb.size) == ("JPEG", (400, 800))
    assert dict(thumb.getexif()) == {}
    # And the original keeps its pixels and its orientation, but not its GPS position
    original = _decoded(checked.original)
    assert dict(original.getexif()) == {0x0112: 6}
    assert original.tobytes() == _decoded(out.getvalue()).tobytes()


def test_a_photo_without_metadata_is_kept_byte_for_byte() -> None:
    data = image_bytes("JPEG", (300, 200))
    assert check_and_thumbnail(data, max_pixels=LIMIT, thumb_width=400).original == data


def test_a_transparent_png_becomes_a_jpeg_variant_on_white() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (100, 100), (0, 0, 0, 0)).save(out, format="PNG")
    checked = check_and_thumbnail(out.getvalue(), max_pixels=LIMIT, thumb_width=400, thumb_format="jpeg")
    thumb = _decoded(checked.thumb).convert("RGB")
    assert thumb.getpixel((50, 50)) == (255, 255, 255)


def test_a_transparent_png_keeps_its_alpha_in_a_webp_variant() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (100, 100), (0, 0, 0, 0)).save(out, format="PNG")
    checked = check_and_thumbnail(out.getvalue(), max_pixels=LIMIT, thumb_width=400)
    assert _decoded(checked.thumb).mode == "RGBA"


def test_an_image_over_the_pixel_limit_is_refused() -> None:
    with pytest.raises(ImageRejected) as refused:
        check_and_thumbnail(image_bytes("PNG", (1001, 1000)), max_pixels=1_000_000, thumb_width=400)
    assert refused.value.reason == "too_many_pixels"
    # One pixel fewer passes
    check_and_thumbnail(image_bytes("PNG", (1000, 1000)), max_pixels=1_000_000, thumb_width=400)


def test_a_decompression_bomb_is_refused() -> None:
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, format="PNG", optimize=True)
    with pytest.raises(ImageRejected) as refused:
        check_and_thumbnail(out.getvalue(), max_pixels=LIMIT, thumb_width=400)
    assert refused.value.reason == "too_many_pixels"


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
        image_bytes("JPEG", (400, 400))[:600],
        image_bytes("PNG", (400, 400))[:-20],
        b"RIFF\x10\x00\x00\x00WEBPVP8 garbage",
        # PNG magic in front of a JPEG: decoded only as the type the first bytes announce
        b"\x89PNG\r\n\x1a\n" + image_bytes("JPEG", (50, 50)),
        b"plain text",
    ],
    ids=["png-garbage", "truncated-jpeg", "truncated-png", "webp-garbage", "png-head-jpeg-body", "text"],
)
def test_broken_or_disguised_data_is_refused(data: bytes) -> None:
    with pytest.raises(ImageRejected) as refused:
        check_and_thumbnail(data, max_pixels=LIMIT, thumb_width=400)
    assert refused.value.reason == "undecodable"
