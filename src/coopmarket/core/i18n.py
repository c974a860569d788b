"""Chinese for the people who use it: gettext catalogues and ``Accept-Language`` negotiation.

The source of truth is ``locale/<lang>/LC_MESSAGES/coopmarket.po`` (edited by people, extracted
with Babel's ``pybabel``). At start-up each ``.po`` file is read with Babel's ``pofile`` reader and
compiled in memory (``mofile.write_mo``) into a standard ``gettext.GNUTranslations``: no ``.mo``
file is built or shipped, so a fresh clone, a wheel and a container all translate with no manual
step, and a ``.mo`` can never be stale against its ``.po``.

Message contexts (``pgettext``): ``title`` (a problem's title, e.g. "Not found"), ``code`` (one
sentence per stable error ``code``, the Chinese ``detail`` when the English detail itself has no
entry), ``column`` (CSV/XLSX column headers), ``band`` (income bands), ``category`` (product and
income categories). JSON keys and codes never change with the language.
"""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "coopmarket"
ENGLISH = "en"
CHINESE = "zh"
LANGUAGES = (ENGLISH, CHINESE)


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    """The catalogue of ``language`` (``en``: the messages as written)."""
    po = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == ENGLISH or not po.is_file():
        return gettext.NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale="zh_Hans_CN" if language == CHINESE else language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def negotiate(accept_language: str | None, default: str = ENGLISH) -> str:
    """``zh`` or ``en`` from an ``Accept-Language`` header (q-values honoured; ``zh-CN``,
    ``zh-Hans``, ``zh-TW`` all read as ``zh``); ``default`` when it names neither."""
    best: tuple[float, int, str] | None = None
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        candidate = (-quality, position, primary)
        if best is None or candidate < best:
            best = candidate
    return best[2] if best is not None else default


def pgettext(language: str, context: str, message: str) -> str:
    return translations(language).pgettext(context, message)


def has_translation(language: str, context: str, message: str) -> bool:
    """Whether the catalogue holds ``message`` in ``context`` (tests: every code is translated)."""
    sentinel = "\x00missing\x00"
    catalogue = translations(language)
    return isinstance(catalogue, gettext.GNUTranslations) and (
        catalogue._catalog.get(f"{context}\x04{message}", sentinel) != sentinel  # type: ignore[attr-defined]
    )


def problem_text(language: str, *, code: str, title: str, detail: str) -> tuple[str, str]:
    """A problem's ``title`` and ``detail`` in ``language``: the detail's own entry when there is
    one, else the sentence for its ``code``, else the English detail."""
    if language == ENGLISH:
        return title, detail
    catalogue = translations(language)
    translated_title = catalogue.pgettext("title", title)
    translated_detail = catalogue.gettext(detail)
    if translated_detail == detail:
        translated_detail = catalogue.pgettext("code", code)
        if translated_detail == code:
            translated_detail = detail
    return translated_title, translated_detail


def label(language: str, context: str, key: str) -> str:
    """The label of a stable key (a column, a band, a category) in ``language``; the key itself in English."""
    return key if language == ENGLISH else translations(language).pgettext(context, key)


__all__ = ["CHINESE", "ENGLISH", "LANGUAGES", "has_translation", "label", "negotiate", "pgettext", "problem_text"]
