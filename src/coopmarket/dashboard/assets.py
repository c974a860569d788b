"""The dashboard's static files (its script and style, and Apache ECharts with its licence), shipped
in the package and served under names that carry a hash of their content, so a browser may keep
each for a year and still sees a new version at once."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
CACHE_FOREVER = "public, max-age=31536000, immutable"
_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass
class Asset:
    url: str
    content: bytes
    media_type: str
    _gzipped: bytes | None = field(default=None, repr=False)

    def gzipped(self) -> bytes:
        """The content gzip-compressed (ECharts: about a third of its megabyte), made at first use."""
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.content, compresslevel=9, mtime=0)
        return self._gzipped


def _public_name(path: Path, content: bytes) -> str:
    digest = hashlib.sha256(content).hexdigest()[:12]
    stem, dot, suffix = path.name.partition(".")
    return f"{stem}.{digest}.{suffix}" if dot else f"{stem}.{digest}"


def _load() -> tuple[dict[str, Asset], dict[str, Asset]]:
    by_file: dict[str, Asset] = {}
    by_public_name: dict[str, Asset] = {}
    for path in sorted(STATIC_DIR.iterdir()):
        if not path.is_file() or path.suffix not in _MEDIA_TYPES:
            continue
        content = path.read_bytes()
        name = _public_name(path, content)
        asset = Asset(url=f"/dashboard/static/{name}", content=content, media_type=_MEDIA_TYPES[path.suffix])
        by_file[path.name] = asset
        by_public_name[name] = asset
    return by_file, by_public_name


# Read once at import: a few files, about a megabyte, served from memory.
FILES, PUBLIC = _load()


def url(file_name: str) -> str:
    """The cacheable URL of ``static/{file_name}``."""
    return FILES[file_name].url


def find(public_name: str) -> Asset | None:
    return PUBLIC.get(public_name)
