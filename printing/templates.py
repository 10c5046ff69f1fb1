"""Label templates: a small declarative TOML format, loaded and checked before anything prints.

The format is documented in docs/label-templates.md. Lengths are millimetres measured from the
label's top-left corner (text ``y`` is the baseline); font sizes are points. A template is
refused, with a message naming the field, when its geometry cannot print well: a QR module
smaller than 3 printer dots at the template's dpi, a QR code smaller than 12 mm, anything
outside the label, or anything inside the QR code's quiet zone.
"""

from __future__ import annotations

import math
import re
import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from printing.errors import PrintError

__all__ = [
    "LABEL_FIELDS",
    "MIN_MODULE_DOTS",
    "MIN_QR_MM",
    "ORDER_FIELDS",
    "Artwork",
    "Gs1128Area",
    "LabelTemplate",
    "PinPanel",
    "QrArea",
    "QrGeometry",
    "SheetLayout",
    "TemplateError",
    "TemplateKind",
    "TextField",
    "list_templates",
    "load_template",
    "parse_template",
]

FORMAT = "tem-label/1"
MIN_MODULE_DOTS = 3
MIN_QR_MM = 12.0
#: The QR version of a production stamp (base URL, GTIN-14, 4-character key id) at level Q;
#: templates are checked against it when loaded and against the real versions when printing.
NOMINAL_QR_VERSION = 9
MM_PER_INCH = 25.4
#: Placeholders that are the same on every label of an order (drawn once, in the shared artwork).
ORDER_FIELDS = frozenset(
    {
        "product_name_vi",
        "product_name_en",
        "product_name_zh",
        "packing_house_code",
        "packing_house_name",
        "gtin",
        "order_id",
    }
)
#: Placeholders that change from label to label.
LABEL_FIELDS = frozenset({"serial", "serial_grouped", "lot"})
_NAME = re.compile(r"\A[a-z0-9][a-z0-9-]{0,63}\Z")
#: What a template is for: one label a fruit, one label a box, or a grid of labels on an office sheet.
TemplateKind = Literal["fruit_tag", "box_label", "sheet"]


class TemplateError(PrintError):
    """A template is unknown, malformed or has geometry that cannot print well."""


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    w: float
    h: float

    def inside(self, other: Rect, slack: float = 1e-6) -> bool:
        return (
            self.x >= other.x - slack
            and self.y >= other.y - slack
            and self.x + self.w <= other.x + other.w + slack
            and self.y + self.h <= other.y + other.h + slack
        )

    def overlaps(self, other: Rect) -> bool:
        return (
            self.x < other.x + other.w
            and other.x < self.x + self.w
            and self.y < other.y + other.h
            and other.y < self.y + self.h
        )


@dataclass(frozen=True, slots=True)
class QrArea:
    x_mm: float
    y_mm: float
    size_mm: float
    quiet_zone_modules: int


@dataclass(frozen=True, slots=True)
class QrGeometry:
    """Where a symbol of one version goes: the module snapped to whole printer dots."""

    version: int
    modules: int
    module_dots: int
    module_mm: float
    symbol_mm: float
    x_mm: float  # top-left of the symbol (quiet zone excluded)
    y_mm: float
    quiet_mm: float


@dataclass(frozen=True, slots=True)
class TextField:
    value: str
    x_mm: float
    y_mm: float
    size_pt: float
    max_width_mm: float
    align: Literal["left", "center", "right"]
    min_size_pt: float
    placeholders: frozenset[str]

    @property
    def dynamic(self) -> bool:
        return bool(self.placeholders & LABEL_FIELDS)

    def box(self) -> Rect:
        """The area the text may use: ascent above the baseline, descent below, max width."""
        size_mm = self.size_pt * MM_PER_INCH / 72
        left = {
            "left": self.x_mm,
            "center": self.x_mm - self.max_width_mm / 2,
            "right": self.x_mm - self.max_width_mm,
        }
        return Rect(left[self.align], self.y_mm - 0.88 * size_mm, self.max_width_mm, 1.0 * size_mm)


@dataclass(frozen=True, slots=True)
class Gs1128Area:
    """The GS1-128 of a box label: bars in ``width_mm`` (quiet zones included) and ``height_mm``,
    the interpretation line centred under them. A label's bars use ``module_dots`` printer dots a
    module, or fewer (down to ``min_module_dots``) when its symbol is too long for that."""

    x_mm: float
    y_mm: float
    width_mm: float
    height_mm: float
    module_dots: int
    min_module_dots: int
    text_size_pt: float
    text_min_size_pt: float

    @property
    def text_baseline_mm(self) -> float:
        return self.y_mm + self.height_mm + 0.3 + 0.88 * self.text_size_pt * MM_PER_INCH / 72

    def text_field(self) -> TextField:
        """The interpretation line, as a centred text field that shrinks to the barcode's width."""
        return TextField(
            value="",
            x_mm=self.x_mm + self.width_mm / 2,
            y_mm=self.text_baseline_mm,
            size_pt=self.text_size_pt,
            max_width_mm=self.width_mm,
            align="center",
            min_size_pt=self.text_min_size_pt,
            placeholders=frozenset(),
        )

    def box(self) -> Rect:
        text = self.text_field().box()
        return Rect(self.x_mm, self.y_mm, self.width_mm, text.y + text.h - self.y_mm)


@dataclass(frozen=True, slots=True)
class PinPanel:
    x_mm: float
    y_mm: float
    width_mm: float
    height_mm: float
    size_pt: float

    def box(self) -> Rect:
        return Rect(self.x_mm, self.y_mm, self.width_mm, self.height_mm)


@dataclass(frozen=True, slots=True)
class Artwork:
    """A 1-bit picture (binary PBM file beside the template) or a frame (rectangle outline)."""

    kind: Literal["image", "frame"]
    x_mm: float
    y_mm: float
    width_mm: float
    height_mm: float
    image: tuple[int, int, bytes] | None = None  # width, height, packed rows (1 = black)
    line_mm: float = 0.25

    def box(self) -> Rect:
        return Rect(self.x_mm, self.y_mm, self.width_mm, self.height_mm)


@dataclass(frozen=True, slots=True)
class SheetLayout:
    page_width_mm: float
    page_height_mm: float
    columns: int
    rows: int
    left_mm: float
    top_mm: float
    column_pitch_mm: float
    row_pitch_mm: float
    crop_marks: bool
    footer: bool

    @property
    def per_page(self) -> int:
        return self.columns * self.rows


@dataclass(frozen=True, slots=True)
class LabelTemplate:
    name: str
    description: str
    layout: Literal["roll", "sheet"]
    dpi: int
    width_mm: float
    height_mm: float
    bleed_mm: float
    qr: QrArea
    texts: tuple[TextField, ...]
    gs1_128: Gs1128Area | None = None
    pin: PinPanel | None = None
    artwork: tuple[Artwork, ...] = ()
    sheet: SheetLayout | None = None
    source: str = field(default="", compare=False)

    @property
    def dot_mm(self) -> float:
        return MM_PER_INCH / self.dpi

    @property
    def kind(self) -> TemplateKind:
        """Read from what the template holds (the format has no field for it): a sheet layout is an office
        sheet; a roll label with a GS1-128 or a scratch-off PIN panel is a box label, since a box has room for
        them and a fruit does not; any other roll label is a fruit tag."""
        if self.layout == "sheet":
            return "sheet"
        if self.gs1_128 is not None or self.pin is not None:
            return "box_label"
        return "fruit_tag"

    def qr_geometry(self, version: int) -> QrGeometry:
        """Module size snapped down to whole printer dots; refuses geometry that cannot print well."""
        modules = version * 4 + 17
        module_dots = math.floor(self.qr.size_mm / modules / self.dot_mm + 1e-9)
        if module_dots < MIN_MODULE_DOTS:
            need = modules * MIN_MODULE_DOTS * self.dot_mm
            raise TemplateError(
                f"template {self.name}: a version {version} QR code ({modules} modules) in qr.size_mm = "
                f"{self.qr.size_mm:g} gives modules of "
                f"{self.qr.size_mm / modules / self.dot_mm:.2f} printer dots at {self.dpi} dpi; at least "
                f"{MIN_MODULE_DOTS} are needed, so make qr.size_mm at least {math.ceil(need * 10) / 10:g}"
            )
        module_mm = module_dots * self.dot_mm
        symbol_mm = module_mm * modules
        if symbol_mm < MIN_QR_MM - 1e-9:
            raise TemplateError(
                f"template {self.name}: the QR code would be {symbol_mm:.1f} mm wide; phones need at least "
                f"{MIN_QR_MM:g} mm, so make qr.size_mm larger"
            )
        offset = (self.qr.size_mm - symbol_mm) / 2
        geometry = QrGeometry(
            version=version,
            modules=modules,
            module_dots=module_dots,
            module_mm=module_mm,
            symbol_mm=symbol_mm,
            x_mm=self.qr.x_mm + offset,
            y_mm=self.qr.y_mm + offset,
            quiet_mm=self.qr.quiet_zone_modules * module_mm,
        )
        quiet = self.quiet_rect(geometry)
        label = Rect(0, 0, self.width_mm, self.height_mm)
        if not quiet.inside(label):
            raise TemplateError(
                f"template {self.name}: the QR code with its quiet zone of {self.qr.quiet_zone_modules} modules "
                f"({quiet.w:.1f} mm square) does not fit inside the {self.width_mm:g} × {self.height_mm:g} mm "
                "label at qr.x_mm / qr.y_mm"
            )
        for what, rect in self._element_boxes():
            if rect.overlaps(quiet):
                raise TemplateError(
                    f"template {self.name}: {what} reaches into the QR code's quiet zone; move it or "
                    "make the QR code smaller"
                )
        return geometry

    def quiet_rect(self, geometry: QrGeometry) -> Rect:
        q = geometry.quiet_mm
        return Rect(geometry.x_mm - q, geometry.y_mm - q, geometry.symbol_mm + 2 * q, geometry.symbol_mm + 2 * q)

    def _element_boxes(self) -> list[tuple[str, Rect]]:
        boxes: list[tuple[str, Rect]] = [(f"text {t.value!r}", t.box()) for t in self.texts]
        if self.gs1_128 is not None:
            boxes.append(("the GS1-128 barcode", self.gs1_128.box()))
        if self.pin is not None:
            boxes.append(("the PIN panel", self.pin.box()))
        boxes.extend((f"artwork {a.kind}", a.box()) for a in self.artwork if a.kind == "image")
        return boxes

    def check(self) -> None:
        """Every check that does not depend on an order: run when the template is loaded."""
        label = Rect(0, 0, self.width_mm, self.height_mm)
        for what, rect in self._element_boxes():
            if not rect.inside(label):
                raise TemplateError(
                    f"template {self.name}: {what} (at {rect.x:.1f}, {rect.y:.1f} mm, {rect.w:.1f} × {rect.h:.1f} mm) "
                    f"does not fit inside the {self.width_mm:g} × {self.height_mm:g} mm label"
                )
        if self.gs1_128 is not None and self.gs1_128.min_module_dots > self.gs1_128.module_dots:
            raise TemplateError(f"template {self.name}: gs1_128.min_module_dots must not exceed gs1_128.module_dots")
        self.qr_geometry(NOMINAL_QR_VERSION)
        sheet = self.sheet
        if self.layout == "sheet":
            if sheet is None:
                raise TemplateError(f"template {self.name}: layout 'sheet' needs a [sheet] table")
            if sheet.column_pitch_mm < self.width_mm - 1e-9 or sheet.row_pitch_mm < self.height_mm - 1e-9:
                raise TemplateError(
                    f"template {self.name}: sheet pitches ({sheet.column_pitch_mm:g} × {sheet.row_pitch_mm:g} mm) "
                    f"are smaller than the label ({self.width_mm:g} × {self.height_mm:g} mm), so labels overlap"
                )
            right = sheet.left_mm + (sheet.columns - 1) * sheet.column_pitch_mm + self.width_mm
            bottom = sheet.top_mm + (sheet.rows - 1) * sheet.row_pitch_mm + self.height_mm
            if right > sheet.page_width_mm + 1e-9 or bottom > sheet.page_height_mm + 1e-9:
                raise TemplateError(
                    f"template {self.name}: {sheet.columns} × {sheet.rows} labels reach {right:.1f} × "
                    f"{bottom:.1f} mm, beyond the {sheet.page_width_mm:g} × {sheet.page_height_mm:g} mm page"
                )
        elif sheet is not None:
            raise TemplateError(f"template {self.name}: a [sheet] table needs layout = 'sheet'")


# Parsing


class _Table:
    """Typed access to one TOML table with messages that name the field."""

    def __init__(self, data: Any, where: str, template: str) -> None:
        if not isinstance(data, dict):
            raise TemplateError(f"template {template}: {where} must be a table")
        self.data: dict[str, Any] = data
        self.where = where
        self.template = template
        self.used: set[str] = set()

    def _error(self, key: str, message: str) -> TemplateError:
        return TemplateError(f"template {self.template}: {self.where}{key} {message}")

    def get(self, key: str) -> Any:
        self.used.add(key)
        return self.data.get(key)

    def number(self, key: str, default: float | None = None, low: float = 0.0, high: float = 2000.0) -> float:
        value = self.get(key)
        if value is None:
            if default is None:
                raise self._error(key, "is required")
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self._error(key, f"must be a number, got {value!r}")
        if not low <= value <= high:
            raise self._error(key, f"must be between {low:g} and {high:g}, got {value!r}")
        return float(value)

    def integer(self, key: str, default: int | None = None, low: int = 0, high: int = 100000) -> int:
        value = self.get(key)
        if value is None:
            if default is None:
                raise self._error(key, "is required")
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._error(key, f"must be a whole number, got {value!r}")
        if not low <= value <= high:
            raise self._error(key, f"must be between {low} and {high}, got {value!r}")
        return value

    def text(self, key: str, default: str | None = None, max_length: int = 400) -> str:
        value = self.get(key)
        if value is None:
            if default is None:
                raise self._error(key, "is required")
            return default
        if not isinstance(value, str) or len(value) > max_length:
            raise self._error(key, f"must be text of at most {max_length} characters")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._error(key, f"must be true or false, got {value!r}")
        return value

    def choice(self, key: str, options: tuple[str, ...], default: str | None = None) -> str:
        value = self.text(key, default)
        if value not in options:
            raise self._error(key, f"must be one of {', '.join(options)}, got {value!r}")
        return value

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise TemplateError(
                f"template {self.template}: unknown field(s) in {self.where or 'the top level'}: " + ", ".join(unknown)
            )


def _placeholders(value: str, template: str) -> frozenset[str]:
    names: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise TemplateError(f"template {template}: text {value!r} has a broken placeholder: {exc}") from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in ORDER_FIELDS | LABEL_FIELDS or spec or conversion:
            known = ", ".join(sorted(ORDER_FIELDS | LABEL_FIELDS))
            raise TemplateError(f"template {template}: text {value!r} uses {{{name}}}; known placeholders: {known}")
        names.add(name)
    return frozenset(names)


def _read_pbm(path: Path, template: str) -> tuple[int, int, bytes]:
    """A binary PBM (P4) file: the simplest 1-bit image format, rows packed MSB first, 1 = black."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TemplateError(f"template {template}: cannot read artwork {path.name}: {exc.strerror}") from None
    tokens: list[bytes] = []
    pos = 0
    while len(tokens) < 3:
        while pos < len(data) and data[pos : pos + 1].isspace():
            pos += 1
        if data[pos : pos + 1] == b"#":
            while pos < len(data) and data[pos] not in b"\r\n":
                pos += 1
            continue
        start = pos
        while pos < len(data) and not data[pos : pos + 1].isspace():
            pos += 1
        if start == pos:
            break
        tokens.append(data[start:pos])
    if len(tokens) < 3 or tokens[0] != b"P4" or not tokens[1].isdigit() or not tokens[2].isdigit():
        raise TemplateError(f"template {template}: artwork {path.name} is not a binary PBM (P4) image")
    width, height = int(tokens[1]), int(tokens[2])
    pixels = data[pos + 1 :]
    need = (width + 7) // 8 * height
    if width < 1 or height < 1 or len(pixels) < need:
        raise TemplateError(f"template {template}: artwork {path.name} is truncated")
    return width, height, pixels[:need]


def _parse_texts(top: _Table, name: str) -> list[TextField]:
    texts: list[TextField] = []
    raw_texts = top.get("text") or []
    if not isinstance(raw_texts, list):
        raise TemplateError(f"template {name}: [[text]] must be an array of tables")
    for index, raw in enumerate(raw_texts):
        t = _Table(raw, f"text[{index}].", name)
        value = t.text("value")
        size = t.number("size_pt", low=3, high=72)
        texts.append(
            TextField(
                value=value,
                x_mm=t.number("x_mm"),
                y_mm=t.number("y_mm"),
                size_pt=size,
                max_width_mm=t.number("max_width_mm", low=1, high=400),
                align=t.choice("align", ("left", "center", "right"), "left"),  # type: ignore[arg-type]
                min_size_pt=t.number("min_size_pt", min(size, 4.0), low=3, high=72),
                placeholders=_placeholders(value, name),
            )
        )
        t.finish()

    return texts


def _parse_gs1_128_and_pin(top: _Table, name: str) -> tuple[Gs1128Area | None, PinPanel | None]:
    gs1_128 = None
    if top.get("gs1_128") is not None:
        c = _Table(top.get("gs1_128"), "gs1_128.", name)
        module_dots = c.integer("module_dots", 2, low=1, high=20)
        text_size = c.number("text_size_pt", 4.5, low=3, high=72)
        gs1_128 = Gs1128Area(
            x_mm=c.number("x_mm"),
            y_mm=c.number("y_mm"),
            width_mm=c.number("width_mm", low=1),
            height_mm=c.number("height_mm", low=1),
            module_dots=module_dots,
            min_module_dots=c.integer("min_module_dots", module_dots, low=1, high=20),
            text_size_pt=text_size,
            text_min_size_pt=c.number("text_min_size_pt", min(text_size, 4.0), low=3, high=72),
        )
        c.finish()

    pin = None
    if top.get("pin") is not None:
        p = _Table(top.get("pin"), "pin.", name)
        pin = PinPanel(
            x_mm=p.number("x_mm"),
            y_mm=p.number("y_mm"),
            width_mm=p.number("width_mm", low=1),
            height_mm=p.number("height_mm", low=1),
            size_pt=p.number("size_pt", 7.0, low=4, high=72),
        )
        p.finish()

    return gs1_128, pin


def _parse_artwork(top: _Table, name: str, source: Path | None) -> list[Artwork]:
    artwork: list[Artwork] = []
    raw_art = top.get("artwork") or []
    if not isinstance(raw_art, list):
        raise TemplateError(f"template {name}: [[artwork]] must be an array of tables")
    for index, raw in enumerate(raw_art):
        a = _Table(raw, f"artwork[{index}].", name)
        kind = a.choice("kind", ("image", "frame"))
        image = None
        if kind == "image":
            file_name = a.text("file")
            if "/" in file_name or "\\" in file_name or file_name.startswith("."):
                raise TemplateError(f"template {name}: artwork[{index}].file must be a file name beside the template")
            folder = source.parent if source is not None else Path(".")
            image = _read_pbm(folder / file_name, name)
        artwork.append(
            Artwork(
                kind=kind,  # type: ignore[arg-type]
                x_mm=a.number("x_mm", low=-10),
                y_mm=a.number("y_mm", low=-10),
                width_mm=a.number("width_mm", low=0.1),
                height_mm=a.number("height_mm", low=0.1),
                image=image,
                line_mm=a.number("line_mm", 0.25, low=0.05, high=5),
            )
        )
        a.finish()

    return artwork


def _parse_sheet(top: _Table, name: str) -> SheetLayout | None:
    sheet = None
    if top.get("sheet") is not None:
        s = _Table(top.get("sheet"), "sheet.", name)
        sheet = SheetLayout(
            page_width_mm=s.number("page_width_mm", low=20),
            page_height_mm=s.number("page_height_mm", low=20),
            columns=s.integer("columns", low=1, high=50),
            rows=s.integer("rows", low=1, high=100),
            left_mm=s.number("left_mm"),
            top_mm=s.number("top_mm"),
            column_pitch_mm=s.number("column_pitch_mm", low=1),
            row_pitch_mm=s.number("row_pitch_mm", low=1),
            crop_marks=s.flag("crop_marks", False),
            footer=s.flag("footer", True),
        )
        s.finish()
    return sheet


def parse_template(data: dict[str, Any], source: Path | None = None) -> LabelTemplate:
    """Build and check a template from parsed TOML. ``source`` locates artwork files."""
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise TemplateError(f"template name must be lower-case letters, digits and '-', got {name!r}")
    top = _Table(data, "", name)
    if top.text("format") != FORMAT:
        raise TemplateError(f"template {name}: format must be {FORMAT!r}")
    top.get("name")
    description = top.text("description", "")
    layout = top.choice("layout", ("roll", "sheet"))
    dpi = top.integer("dpi", low=100, high=2400)

    label = _Table(top.get("label"), "label.", name)
    width = label.number("width_mm", low=5, high=400)
    height = label.number("height_mm", low=5, high=400)
    bleed = label.number("bleed_mm", 0.0, high=10)
    label.finish()

    qr_t = _Table(top.get("qr"), "qr.", name)
    qr = QrArea(
        x_mm=qr_t.number("x_mm"),
        y_mm=qr_t.number("y_mm"),
        size_mm=qr_t.number("size_mm", low=1, high=400),
        quiet_zone_modules=qr_t.integer("quiet_zone_modules", 4, low=4, high=20),
    )
    qr_t.finish()

    texts = _parse_texts(top, name)
    gs1_128, pin = _parse_gs1_128_and_pin(top, name)
    artwork = _parse_artwork(top, name, source)
    sheet = _parse_sheet(top, name)
    top.finish()

    template = LabelTemplate(
        name=name,
        description=description,
        layout=layout,  # type: ignore[arg-type]
        dpi=dpi,
        width_mm=width,
        height_mm=height,
        bleed_mm=bleed,
        qr=qr,
        texts=tuple(texts),
        gs1_128=gs1_128,
        pin=pin,
        artwork=tuple(artwork),
        sheet=sheet,
        source=str(source) if source else "",
    )
    template.check()
    return template


def load_template(folder: Path, name: str) -> LabelTemplate:
    """Load ``{folder}/{name}.toml``. Unknown names and broken files are TemplateError."""
    if not _NAME.match(name):
        raise TemplateError(f"unknown label template {name!r}")
    path = folder / f"{name}.toml"
    if not path.is_file():
        available = ", ".join(list_templates(folder)) or "none"
        raise TemplateError(f"unknown label template {name!r}; available: {available}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TemplateError(f"template {name}: cannot read {path.name}: {exc}") from None
    if data.get("name") != name:
        raise TemplateError(f"template file {path.name} must say name = {name!r}")
    return parse_template(data, path)


def list_templates(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.toml") if _NAME.match(p.stem))
