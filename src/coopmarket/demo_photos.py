"""Generated photos for the demo catalogue (``coopmarket seed-demo``): a card per product in its
own colours with a drawing of the produce and its name, made with Pillow on the spot.

The Chinese name is drawn when a CJK font is installed (Noto CJK, Source Han, WenQuanYi, Droid
Sans Fallback); otherwise the card carries the English label in Pillow's bundled font, so the
demo looks the same on a bare server.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SIZE = (1200, 900)
CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/source-han-sans/SourceHanSans-Regular.otf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class PhotoStyle:
    """How a product's card looks: background colours (top, bottom), the produce's colour and shape."""

    top: tuple[int, int, int]
    bottom: tuple[int, int, int]
    produce: tuple[int, int, int]
    shape: str  # "tuber", "round", "berry", "egg", "root"


@cache
def _cjk_font_path() -> str | None:
    return next((path for path in CJK_FONTS if Path(path).is_file()), None)


def _font(size: int, *, cjk: bool) -> Font:
    path = _cjk_font_path() if cjk else None
    if path is not None:
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def _background(style: PhotoStyle) -> Image.Image:
    height = SIZE[1]
    top = Image.new("RGB", (1, height), style.top)
    bottom = Image.new("RGB", (1, height), style.bottom)
    mask = Image.linear_gradient("L").resize((1, height))
    return Image.composite(bottom, top, mask).resize(SIZE)


def _draw_produce(draw: ImageDraw.ImageDraw, style: PhotoStyle, centre: tuple[int, int], scale: float) -> None:
    x, y = centre
    colour = style.produce
    shade = tuple(max(0, c - 50) for c in colour)
    leaf = (70, 140, 60)

    def ellipse(dx: float, dy: float, rx: float, ry: float, fill: tuple[int, ...]) -> None:
        draw.ellipse(
            (x + (dx - rx) * scale, y + (dy - ry) * scale, x + (dx + rx) * scale, y + (dy + ry) * scale),
            fill=fill,
        )

    if style.shape == "tuber":
        ellipse(-60, 20, 190, 110, shade)
        ellipse(60, -10, 200, 115, colour)
    elif style.shape == "root":
        draw.polygon(
            [(x - 90 * scale, y - 120 * scale), (x + 90 * scale, y - 120 * scale), (x, y + 230 * scale)], fill=colour
        )
        ellipse(0, -120, 90, 40, colour)
        ellipse(-40, -200, 30, 80, leaf)
        ellipse(40, -200, 30, 80, leaf)
    elif style.shape == "berry":
        draw.polygon(
            [(x - 150 * scale, y - 90 * scale), (x + 150 * scale, y - 90 * scale), (x, y + 190 * scale)], fill=colour
        )
        ellipse(0, -90, 150, 70, colour)
        ellipse(0, -160, 110, 35, leaf)
    elif style.shape == "egg":
        ellipse(-110, 10, 120, 160, colour)
        ellipse(120, 30, 120, 160, shade)
    else:  # round (watermelon)
        ellipse(0, 0, 230, 200, colour)
        for offset in (-120, -40, 40, 120):
            draw.line((x + offset * scale, y - 190 * scale, x + offset * scale, y + 190 * scale), fill=shade, width=18)


def product_photo(name: str, label: str, style: PhotoStyle, *, variant: int = 0, brand: str = "") -> bytes:
    """A JPEG card for one product; ``variant`` 1 is a close-up without the caption band."""
    image = _background(style)
    draw = ImageDraw.Draw(image)
    if variant == 0:
        _draw_produce(draw, style, (600, 360), 1.1)
        draw.rectangle((0, 690, SIZE[0], SIZE[1]), fill=(255, 255, 255))
        has_cjk = _cjk_font_path() is not None
        title = name if has_cjk else label
        draw.text((600, 770), title, font=_font(84, cjk=has_cjk), fill=(40, 40, 40), anchor="mm")
        if brand:
            draw.text((600, 855), brand, font=_font(40, cjk=False), fill=(120, 120, 120), anchor="mm")
    else:
        _draw_produce(draw, style, (600, 450), 1.7)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85, optimize=True, progressive=True)
    return out.getvalue()


__all__ = ["PhotoStyle", "product_photo"]
