"""The label font: Noto Sans CJK SC, subset to the characters a document uses and embedded.

One font covers Vietnamese (precomposed letters with diacritics), English and Chinese, so a
label never falls back to another font. It comes from the ``noto-cjk-sans-otc`` package (SIL
Open Font License 1.1, see its LICENSE); nothing is downloaded at run time.

The face is CID-keyed CFF (registry-ordering-supplement Adobe-Identity-0). fontTools keeps it
CID-keyed when subsetting, with the original CIDs, so a PDF can embed the bare CFF table as a
``CIDFontType0C`` font program and show text as 2-byte CIDs under the Identity-H encoding.
"""

from __future__ import annotations

import io
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

from printing.errors import PrintError

__all__ = ["FontError", "LabelFont", "label_font", "normalize_text"]

_COLLECTION = "NotoSansCJK-Regular.ttc"
_FACE = "Noto Sans CJK SC"
FONT_NAME = "NotoSansCJKsc-Regular"


class FontError(PrintError):
    """A character cannot be printed with the label font."""


def normalize_text(text: str) -> str:
    """NFC, so Vietnamese typed with combining marks uses the font's precomposed letters."""
    return unicodedata.normalize("NFC", text)


@lru_cache(maxsize=1)
def _font_path() -> str:
    return str(resources.files("noto_cjk_sans_otc").joinpath(_COLLECTION))


@lru_cache(maxsize=1)
def _face_number() -> int:
    collection = TTCollection(_font_path(), lazy=True)
    for number, font in enumerate(collection.fonts):
        if font["name"].getDebugName(4) == _FACE:
            return number
    raise FontError(f"the font collection has no face named {_FACE!r}")


@lru_cache(maxsize=1)
def _full_font() -> tuple[dict[int, str], dict[str, int], dict[str, Any]]:
    """cmap (code point -> glyph name), advance widths, and the metrics a PDF needs."""
    font = TTFont(_font_path(), fontNumber=_face_number(), lazy=True)
    cmap = dict(font.getBestCmap())
    widths = {name: advance for name, (advance, _lsb) in font["hmtx"].metrics.items()}
    head = font["head"]
    os2 = font["OS/2"]
    metrics = {
        "units": head.unitsPerEm,
        "bbox": (head.xMin, head.yMin, head.xMax, head.yMax),
        "ascent": os2.sTypoAscender,
        "descent": os2.sTypoDescender,
        "cap_height": getattr(os2, "sCapHeight", 733),
    }
    font.close()
    return cmap, widths, metrics


def _cid(glyph_name: str) -> int:
    if glyph_name == ".notdef":
        return 0
    if not glyph_name.startswith("cid"):
        raise FontError(f"unexpected glyph name {glyph_name!r} in a CID-keyed font")
    return int(glyph_name[3:])


@dataclass(frozen=True, slots=True)
class LabelFont:
    """The subset font of one document: CID per character, widths per CID, the CFF program."""

    cids: dict[str, int]
    widths: dict[int, int]  # advance per CID, in 1/1000 em
    cff: bytes
    bbox: tuple[int, int, int, int]
    ascent: int
    descent: int
    cap_height: int
    tag: str

    @property
    def base_font(self) -> str:
        return f"{self.tag}+{FONT_NAME}"

    def encode(self, text: str) -> bytes:
        """The text as a PDF hex string of 2-byte CIDs (Identity-H)."""
        cids = self.cids
        try:
            return b"<" + "".join([f"{cids[c]:04X}" for c in text]).encode() + b">"
        except KeyError as exc:
            raise FontError(f"character {exc.args[0]!r} was not prepared for this document") from None

    def width_mm(self, text: str, size_pt: float) -> float:
        widths = self.widths
        cids = self.cids
        units = sum(widths[cids[c]] for c in text)
        return units * size_pt / 1000 * 25.4 / 72


def _check_coverage(chars: str) -> None:
    cmap, _, _ = _full_font()
    missing = sorted({c for c in chars if ord(c) not in cmap})
    if missing:
        shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in missing[:8])
        raise FontError(f"the label font ({_FACE}) has no glyph for {shown}; these characters cannot be printed")


@lru_cache(maxsize=16)
def _subset(chars: frozenset[str]) -> LabelFont:
    cmap, all_widths, metrics = _full_font()
    glyph_names = sorted({cmap[ord(c)] for c in chars})
    options = subset.Options()
    options.name_IDs = []
    options.name_languages = []
    options.layout_features = []
    options.hinting = False
    options.notdef_outline = True
    options.desubroutinize = True
    font = TTFont(_font_path(), fontNumber=_face_number())
    subsetter = subset.Subsetter(options)
    subsetter.populate(glyphs=glyph_names)
    subsetter.subset(font)
    buffer = io.BytesIO()
    font.save(buffer)
    buffer.seek(0)
    saved = TTFont(buffer)
    cff = saved.getTableData("CFF ")
    kept = set(saved.getGlyphOrder())
    saved.close()
    font.close()
    lost = [name for name in glyph_names if name not in kept]
    if lost:
        raise FontError(f"font subsetting lost glyphs: {', '.join(lost[:5])}")
    scale = 1000 / metrics["units"]
    cids = {c: _cid(cmap[ord(c)]) for c in chars}
    widths = {_cid(name): round(all_widths[name] * scale) for name in glyph_names}
    widths[0] = round(all_widths.get(".notdef", 1000) * scale)
    # The subset tag is six capital letters derived from the character set (PDF 9.6.4).
    digest = sum(ord(c) * 2654435761 for c in sorted(chars)) & 0xFFFFFFFF
    tag = "".join(chr(ord("A") + (digest >> (5 * i)) % 26) for i in range(6))
    bbox = metrics["bbox"]
    return LabelFont(
        cids=cids,
        widths=widths,
        cff=cff,
        bbox=(round(bbox[0] * scale), round(bbox[1] * scale), round(bbox[2] * scale), round(bbox[3] * scale)),
        ascent=round(metrics["ascent"] * scale),
        descent=round(metrics["descent"] * scale),
        cap_height=round(metrics["cap_height"] * scale),
        tag=tag,
    )


def label_font(chars: str) -> LabelFont:
    """The subset font for a set of characters (cached); FontError names any character it lacks."""
    wanted = frozenset(normalize_text(chars)) - {"\n", "\r", "\t"}
    _check_coverage("".join(sorted(wanted)))
    return _subset(wanted)
