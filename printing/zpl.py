"""ZPL II for roll printers (Zebra and compatibles): one ``^XA … ^XZ`` label per stamp.

- The QR code is the printer's own ``^BQN,2,m`` (model 2) with ``^FDQA,<uri>``: error
  correction Q, automatic input mode, and exactly the stamp URI. The magnification ``m`` is the
  template's module size in printer dots.
- Everything that is the same on every label (fixed text in Vietnamese and Chinese, artwork,
  the PIN panel) is rasterised once from the same drawing as the PDF, at the template's dpi,
  downloaded once with ``~DG`` and recalled on each label with ``^XG``: the printer needs no
  Unicode font for it.
- Label fields (serial, lot, PIN) use the printer's scalable font 0 with UTF-8 (``^CI28``).
- The GS1-128 is the printer's ``^BC`` in mode N with the symbol characters spelled out as
  invocation codes (``>;`` start C, ``>8`` FNC1 first and after the serial, ``>6`` / ``>5``
  Code B / C): exactly the symbol the PDF draws, so the width checked by ``prepare()`` holds.
  Its interpretation line (``(01)…(21)…(10)…``) is a font 0 field under the bars.

All positions are in dots at the template's dpi: send the file to a printer of that resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pypdfium2 as pdfium

from printing.errors import PrintError
from printing.labels import FittedText, Label, PreparedJob, group_pin
from printing.pdf import static_art_pdf

__all__ = ["GRAPHIC_NAME", "zpl_document"]

GRAPHIC_NAME = "R:TEMART.GRF"
_BATCH = 500


def _dots(mm: float, dpi: int) -> int:
    return round(mm / 25.4 * dpi)


def _field(text: str) -> str:
    """^FD data with ^FH escapes for the two ZPL command characters."""
    return text.replace("_", "_5F").replace("^", "_5E").replace("~", "_7E")


def art_graphic(prepared: PreparedJob) -> tuple[int, int, bytes]:
    """The fixed artwork as a 1-bit bitmap at the template's dpi: (bytes per row, rows, packed)."""
    template = prepared.template
    pdf = pdfium.PdfDocument(static_art_pdf(prepared))
    try:
        bitmap = pdf[0].render(scale=template.dpi / 72, grayscale=True, may_draw_forms=False)
        width, height, stride = bitmap.width, bitmap.height, bitmap.stride
        buffer = bytes(bitmap.buffer)
    finally:
        pdf.close()
    row_bytes = (width + 7) // 8
    threshold = bytes(1 if v < 128 else 0 for v in range(256))  # dark pixel -> 1
    packed = bytearray()
    for y in range(height):
        row = buffer[y * stride : y * stride + width].translate(threshold)
        bits = row.replace(b"\x01", b"1").replace(b"\x00", b"0").decode() + "0" * (-width % 8)
        packed += int(bits, 2).to_bytes(row_bytes, "big")
    return row_bytes, height, bytes(packed)


def _text(fitted: FittedText, value: str, dpi: int) -> str:
    """A label field in the printer's font 0, in a one-line field block of the field's width."""
    spec = fitted.spec
    height = _dots(spec.size_pt * 25.4 / 72, dpi)
    top = _dots(spec.y_mm, dpi) - round(height * 0.8)
    justify = {"left": 0, "right": 1, "center": 2}[spec.align]
    width = _dots(spec.max_width_mm, dpi)
    left = _dots(
        {"left": spec.x_mm, "center": spec.x_mm - spec.max_width_mm / 2, "right": spec.x_mm - spec.max_width_mm}[
            spec.align
        ],
        dpi,
    )
    return f"^FO{left},{max(top, 0)}^A0N,{height},{height}^FB{width},1,0,{'LRC'[justify]}^FH^FD{_field(value)}^FS"


def _label(prepared: PreparedJob, label: Label, head: str) -> str:
    t = prepared.template
    dpi = t.dpi
    symbol_version = prepared.encoder(label.uri).version
    geometry = prepared.geometry(symbol_version)
    parts = [head]
    parts.append(
        f"^FO{_dots(geometry.x_mm, dpi)},{_dots(geometry.y_mm, dpi)}^BQN,2,{geometry.module_dots}^FDQA,{label.uri}^FS"
    )
    for fitted in prepared.dynamic_texts:
        value = prepared.dynamic_value(fitted, label)
        if value is None:
            continue
        parts.append(_text(fitted, value, dpi))
    if t.pin is not None and label.pin is not None:
        pin = t.pin
        height = _dots(pin.size_pt * 25.4 / 72, dpi)
        top = _dots(pin.y_mm + pin.height_mm / 2, dpi) - height // 2
        parts.append(
            f"^FO{_dots(pin.x_mm, dpi)},{top}^A0N,{height},{height}^FB{_dots(pin.width_mm, dpi)},1,0,C"
            f"^FD{group_pin(label.pin)}^FS"
        )
    barcode = prepared.barcode(label)
    if barcode is not None and t.gs1_128 is not None:
        area = t.gs1_128
        symbol, module_dots = barcode
        left = prepared.barcode_left_dots(len(symbol.modules) * module_dots)
        parts.append(
            f"^FO{left},{_dots(area.y_mm, dpi)}^BY{module_dots}^BCN,{_dots(area.height_mm, dpi)},N,N,N,N"
            f"^FD{symbol.zpl_field_data()}^FS"
        )
        if prepared.barcode_text is not None:
            parts.append(_text(prepared.barcode_text, symbol.text, dpi))
    parts.append("^XZ\n")
    return "".join(parts)


def zpl_document(prepared: PreparedJob, on_labels: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """Yield the ZPL in batches of labels; the fixed artwork graphic is downloaded once first."""
    if prepared.template.layout != "roll":
        raise PrintError(f"ZPL is for roll printers, and template {prepared.template.name} is a sheet")
    return _zpl(prepared, on_labels)


def _zpl(prepared: PreparedJob, on_labels: Callable[[int], None] | None) -> Iterator[bytes]:
    t = prepared.template
    job = prepared.job
    row_bytes, _rows, packed = art_graphic(prepared)
    width = _dots(t.width_mm, t.dpi)
    height = _dots(t.height_mm, t.dpi)
    yield (
        f"^XA^FX Tem order {job.order_id}, template {t.name}, serials {job.first_serial}-{job.last_serial}, "
        f"{job.count} labels, {t.dpi} dpi^FS^XZ\n"
        f"~DG{GRAPHIC_NAME},{len(packed)},{row_bytes},{packed.hex().upper()}\n"
    ).encode()
    head = f"^XA^CI28^PW{width}^LL{height}^LH0,0^FO0,0^XG{GRAPHIC_NAME},1,1^FS"
    batch: list[str] = []
    for label in prepared.labels():
        batch.append(_label(prepared, label, head))
        if len(batch) >= _BATCH:
            if on_labels is not None:
                on_labels(len(batch))
            yield "".join(batch).encode()
            batch.clear()
    if on_labels is not None and batch:
        on_labels(len(batch))
    batch.append(f"^XA^ID{GRAPHIC_NAME}^FS^XZ\n")
    yield "".join(batch).encode()
