"""A print job (what an order prints) and its preparation: every check runs before any output.

``prepare()`` resolves the template against the order: fills in the fixed text, fits it, picks
the font subset, computes the QR geometry for every QR version the order's stamps use and
refuses anything that would not print well. The PDF and ZPL writers then only stream.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from printing.errors import PrintError
from printing.fonts import LabelFont, label_font, normalize_text
from printing.gs1 import QUIET_ZONE_MODULES, Gs1Symbol, gs1_128
from printing.qrfast import QrSymbol, StampQrEncoder
from printing.templates import LabelTemplate, QrGeometry, TemplateError, TextField

__all__ = [
    "Label",
    "LotRange",
    "LotsRequired",
    "PreparedJob",
    "PrintError",
    "PrintJob",
    "group_serial",
    "lots_required_message",
    "prepare",
    "serial_samples",
    "serials_without_lot",
]


@dataclass(frozen=True, slots=True)
class LotRange:
    first: int
    last: int
    code: str


@dataclass(frozen=True)
class PrintJob:
    """Everything about an order that a label can show. ``stamp_uris()`` yields the signed URIs
    of ``first_serial..last_serial`` in order, ``uri_for(serial)`` signs one, and
    ``pin(serial)`` gives the scratch-off PIN."""

    order_id: int
    gtin: str
    first_serial: int
    last_serial: int
    stamp_uris: Callable[[], Iterator[str]]
    uri_for: Callable[[int], str]
    fields: Mapping[str, str]
    lots: tuple[LotRange, ...] = ()
    pin: Callable[[int], str] | None = None
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def count(self) -> int:
        return self.last_serial - self.first_serial + 1


@dataclass(slots=True)
class Label:
    serial: int
    uri: str
    lot: str | None
    pin: str | None


def group_serial(serial: int) -> str:
    """Digits in groups of four from the right: 123456789012 -> '1234 5678 9012'."""
    text = str(serial)
    head = len(text) % 4
    groups = [text[:head]] if head else []
    groups += [text[i : i + 4] for i in range(head, len(text), 4)]
    return " ".join(groups)


def group_pin(pin: str) -> str:
    return f"{pin[:4]} {pin[4:]}"


def serial_samples(first: int, last: int) -> list[int]:
    """Serials that between them reach every length of the range's text and GS1-128: the ends
    and the smallest and largest serial of each digit count (an odd number of digits can make
    a longer GS1-128 than the next, even count)."""
    serials = {first, last}
    for digits in range(len(str(first)), len(str(last)) + 1):
        serials.add(min(max(10**digits - 1, first), last))
        serials.add(min(max(10 ** (digits - 1), first), last))
    return sorted(serials)


def iter_labels(job: PrintJob) -> Iterator[Label]:
    lots = sorted(job.lots, key=lambda r: r.first)
    lot_index = 0
    pin = job.pin
    serial = job.first_serial
    for uri in job.stamp_uris():
        while lot_index < len(lots) and lots[lot_index].last < serial:
            lot_index += 1
        lot = lots[lot_index].code if lot_index < len(lots) and lots[lot_index].first <= serial else None
        yield Label(serial, uri, lot, pin(serial) if pin is not None else None)
        serial += 1
    if serial != job.last_serial + 1:
        raise PrintError(f"expected {job.count} stamps, the signer gave {serial - job.first_serial}")


@dataclass(frozen=True, slots=True)
class FittedText:
    """A text field resolved for this order: fixed text filled in and its size fitted."""

    spec: TextField
    value: str  # fixed text, or a format string for label fields
    size_pt: float


@dataclass
class PreparedJob:
    template: LabelTemplate
    job: PrintJob
    font: LabelFont
    static_texts: list[FittedText]
    dynamic_texts: list[FittedText]
    geometries: dict[int, QrGeometry]
    encoder: Callable[[str], QrSymbol]
    footer_size_pt: float = 6.0
    barcode_text: FittedText | None = None  # the GS1-128's interpretation line

    def geometry(self, version: int) -> QrGeometry:
        geometry = self.geometries.get(version)
        if geometry is None:
            # Only a stamp whose signature happens to save enough bits can land on a version
            # that prepare() did not check; it is checked here, before its label is written.
            try:
                geometry = self.geometries[version] = self.template.qr_geometry(version)
            except TemplateError as exc:
                raise PrintError(str(exc)) from None
        return geometry

    def labels(self) -> Iterator[Label]:
        return iter_labels(self.job)

    def dynamic_value(self, text: FittedText, label: Label) -> str | None:
        if "lot" in text.spec.placeholders and label.lot is None:
            return None  # "Lot {lot}" is left out while the lot is not known
        return text.value.format(serial=label.serial, serial_grouped=group_serial(label.serial), lot=label.lot or "")

    def footer(self, sheet: int, sheets: int, first: int, last: int) -> str:
        serials = f"{first}–{last}" if first != last else str(first)
        return _FOOTER.format(order=self.job.order_id, sheet=sheet, sheets=sheets, serials=serials)

    @property
    def lot_codes(self) -> list[str]:
        """Every lot code of the order, once each."""
        return sorted({r.code for r in self.job.lots})

    def sample_labels(self) -> list[tuple[int, str | None]]:
        """(serial, lot) pairs with the longest content the order can print: a serial of every length
        with each lot of the order and none; with a GS1-128, each lot only with its own serials (the
        ones ``prepare()`` checked), and every serial has one."""
        job = self.job
        if self.template.gs1_128 is None:
            lots: list[str | None] = [None, *self.lot_codes]
            samples = serial_samples(job.first_serial, job.last_serial)
            return [(serial, lot) for lot in lots for serial in samples]
        return [(serial, r.code) for r in job.lots for serial in _lot_samples(job, r)]

    def barcode(self, label: Label) -> tuple[Gs1Symbol, int] | None:
        """The label's GS1-128 and the printer dots of its module (see ``label_barcode``)."""
        if self.template.gs1_128 is None:
            return None
        if label.lot is None:  # prepare() refused a job with a serial not activated on a lot
            raise PrintError(lots_required_message([(label.serial, label.serial)]))
        found = label_barcode(self.template, self.job.gtin, label.serial, label.lot)
        if found is None:  # prepare() checked every serial length with its lot
            raise PrintError(f"internal: the GS1-128 of serial {label.serial} does not fit its slot")
        return found

    def barcode_left_dots(self, width_dots: int) -> int:
        """Where bars this many printer dots wide start, centred in the slot on a whole dot."""
        area = self.template.gs1_128
        assert area is not None
        dot = self.template.dot_mm
        return round((area.x_mm + area.width_mm / 2) / dot - width_dots / 2)


def _lot_samples(job: PrintJob, lot: LotRange) -> list[int]:
    """``serial_samples`` of the order's serials in this lot range (none if they do not meet)."""
    first, last = max(lot.first, job.first_serial), min(lot.last, job.last_serial)
    return serial_samples(first, last) if first <= last else []


def serials_without_lot(first: int, last: int, lots: Iterable[LotRange]) -> list[tuple[int, int]]:
    """The spans of serials ``first..last`` that no lot range covers (not activated yet), in order."""
    spans = []
    serial = first
    for r in sorted(lots, key=lambda r: r.first):
        if r.last < serial:
            continue
        if r.first > last:
            break
        if r.first > serial:
            spans.append((serial, r.first - 1))
        serial = max(serial, r.last + 1)
    if serial <= last:
        spans.append((serial, last))
    return spans


def lots_required_message(spans: list[tuple[int, int]]) -> str:
    """Why a box label of serials not activated on a lot is refused, and what to do."""
    shown = ", ".join(f"{a}–{b}" if a != b else str(a) for a, b in spans)
    word = "serial" if len(spans) == 1 and spans[0][0] == spans[0][1] else "serials"
    return f"box labels carry the lot in their barcode: activate {word} {shown} on their lot first, then print them"


class LotsRequired(PrintError):
    """A box label's GS1-128 carries (10) lot, so its serials must be activated on a lot before it prints."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        super().__init__(lots_required_message(spans))
        self.spans = spans


def barcode_module_dots(template: LabelTemplate, symbol: Gs1Symbol) -> int | None:
    """The widest module, in printer dots, at which the symbol and its quiet zones fit the slot."""
    area = template.gs1_128
    assert area is not None
    for dots in range(area.module_dots, area.min_module_dots - 1, -1):
        if (len(symbol.modules) + 2 * QUIET_ZONE_MODULES) * dots * template.dot_mm <= area.width_mm + 1e-9:
            return dots
    return None


def label_barcode(template: LabelTemplate, gtin: str, serial: int, lot: str) -> tuple[Gs1Symbol, int] | None:
    """A label's GS1-128 of (01), (21) and (10), and its module in printer dots: the template's
    ``module_dots``, or fewer down to ``min_module_dots`` when the symbol is too long for the slot at
    that; None when it does not fit even then."""
    symbol = gs1_128(gtin, serial, lot)
    dots = barcode_module_dots(template, symbol)
    return None if dots is None else (symbol, dots)


def _check_barcode(template: LabelTemplate, job: PrintJob, font: LabelFont) -> FittedText:
    """Every serial length of each lot range (``prepare()`` made sure the ranges cover the order) must fit
    at ``min_module_dots`` with (01), (21) and (10), and the interpretation line of each under the bars."""
    area = template.gs1_128
    assert area is not None
    spec = area.text_field()
    texts = []
    for lot in job.lots:
        for serial in _lot_samples(job, lot):
            found = label_barcode(template, job.gtin, serial, lot.code)
            if found is None:
                symbol = gs1_128(job.gtin, serial, lot.code)
                need = (len(symbol.modules) + 2 * QUIET_ZONE_MODULES) * area.min_module_dots * template.dot_mm
                raise PrintError(
                    f"template {template.name}: the GS1-128 {symbol.text} is {len(symbol.modules)} modules; "
                    f"with its quiet zones it needs {need:.1f} mm at {area.min_module_dots} dot(s) a module, "
                    f"more than gs1_128.width_mm = {area.width_mm:g}"
                )
            texts.append(found[0].text)
    for text in texts:
        if font.width_mm(text, spec.min_size_pt) > spec.max_width_mm + 1e-9:
            raise PrintError(
                f"{text!r} does not fit under the GS1-128 ({spec.max_width_mm:g} mm, even at {spec.min_size_pt:g} pt)"
            )
    return FittedText(spec, "", spec.size_pt)


_DYNAMIC_CHARS = "0123456789 ()"
#: A sheet's footer, for the packing house's staff (Vietnamese) and auditors abroad (English), as the labels are.
_FOOTER = (
    "Đơn {order} · tờ {sheet}/{sheets} · số sê-ri {serials} — "
    "order {order} · sheet {sheet}/{sheets} · serials {serials}"
)
_FOOTER_CHARS = "".join(sorted(set(_FOOTER) - set("{}"))) + "0123456789–"  # serials "1201–1265"


def _fixed_value(spec: TextField, fields: Mapping[str, str]) -> str:
    values = {name: normalize_text(fields.get(name, "")) for name in spec.placeholders}
    return spec.value.format(**values)


def _fit(font: LabelFont, spec: TextField, value: str, what: str) -> float:
    size = spec.size_pt
    width = font.width_mm(value, size)
    if width <= spec.max_width_mm + 1e-9:
        return size
    fitted = spec.size_pt * spec.max_width_mm / width
    if fitted + 1e-9 < spec.min_size_pt:
        raise PrintError(
            f"{what} {value!r} is too long for template field {spec.value!r}: it needs {width:.1f} mm at "
            f"{size:g} pt and would shrink below {spec.min_size_pt:g} pt in {spec.max_width_mm:g} mm"
        )
    return round(fitted, 2)


def prepare(template: LabelTemplate, job: PrintJob, encoder: Callable[[str], QrSymbol] | None = None) -> PreparedJob:
    """Check the job against the template; PrintError (or TemplateError) says what is wrong."""
    if job.count < 1:
        raise PrintError("the order has no stamps")
    if template.gs1_128 is not None and (missing := serials_without_lot(job.first_serial, job.last_serial, job.lots)):
        raise LotsRequired(missing)
    if template.pin is not None and job.pin is None:
        raise PrintError(
            f"template {template.name} has a scratch-off PIN panel, but no PIN key is configured (TEM_PIN_KEY)"
        )
    encode = encoder or StampQrEncoder("Q").encode
    fields = {k: normalize_text(v) for k, v in job.fields.items()}
    fields.setdefault("gtin", job.gtin)
    fields.setdefault("order_id", str(job.order_id))
    static_values = [(spec, _fixed_value(spec, fields)) for spec in template.texts if not spec.dynamic]
    dynamic_specs = [spec for spec in template.texts if spec.dynamic]
    chars = "".join(value for _, value in static_values)
    chars += "".join(spec.value for spec in dynamic_specs) + _DYNAMIC_CHARS + _FOOTER_CHARS
    chars += "".join(r.code for r in job.lots)
    font = label_font(chars)

    static_texts = [
        FittedText(spec, value, _fit(font, spec, value, "the text")) for spec, value in static_values if value.strip()
    ]
    dynamic_texts: list[FittedText] = []
    widest_serial = job.last_serial
    for spec in dynamic_specs:
        # A label field shrinks, label by label, when its value is too wide; the widest value
        # this order can have must still fit at the field's smallest size.
        samples = [
            spec.value.format(serial=widest_serial, serial_grouped=group_serial(widest_serial), lot=lot)
            for lot in ([r.code for r in job.lots] or [""])
        ]
        for sample in samples:
            if font.width_mm(normalize_text(sample), spec.min_size_pt) > spec.max_width_mm + 1e-9:
                raise PrintError(
                    f"{sample!r} does not fit template field {spec.value!r} "
                    f"({spec.max_width_mm:g} mm, even at {spec.min_size_pt:g} pt)"
                )
        dynamic_texts.append(FittedText(spec, normalize_text(spec.value), spec.size_pt))

    barcode_text = _check_barcode(template, job, font) if template.gs1_128 is not None else None

    # QR versions: a longer serial never makes the code smaller, so the first and last stamps
    # bound the versions of the whole order; every version in between is checked too.
    low = encode(job.uri_for(job.first_serial)).version
    high = encode(job.uri_for(job.last_serial)).version
    geometries: dict[int, QrGeometry] = {}
    try:
        for version in range(min(low, high), max(low, high) + 1):
            geometries[version] = template.qr_geometry(version)
    except TemplateError as exc:
        raise PrintError(str(exc)) from None
    return PreparedJob(template, job, font, static_texts, dynamic_texts, geometries, encode, barcode_text=barcode_text)
