"""Streaming PDF of an order's labels: one label a page (roll) or a grid on each sheet.

How the file is built, and why:

- Black only. Everything is painted in the default DeviceGray black; there is no colour space,
  no grey, no transparency.
- QR modules are an exact-scale 1-bit image mask: one image sample per module, drawn so that a
  module is a whole number of printer dots at the template's dpi (``QrGeometry``). An image
  mask is about 370 bytes for a version 9 code, against several kilobytes of rectangles, and a
  RIP cannot smear it with anti-aliasing seams between adjacent rectangles.
- Everything that is the same on every label (fixed text, artwork, frames, the PIN panel) is a
  Form XObject drawn by reference; so are the crop marks of a sheet. Only the QR image, the
  serial, the lot, the PIN and the GS1-128 change per label.
- The font is Noto Sans CJK SC, subset and embedded as CIDFontType0C with a ToUnicode map,
  so Vietnamese and Chinese render everywhere and text can be searched and copied.
- Streaming with flat memory: every label (roll) or sheet is written into a slot of fixed
  size (object numbers are zero-padded, numbers are fixed-width, the content stream and each
  image object are padded with spaces to the document's largest), so every object's offset is
  arithmetic and the cross-reference table is generated at the end without remembering
  anything per label.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from printing.errors import PrintError
from printing.fonts import LabelFont
from printing.labels import FittedText, Label, PreparedJob, group_pin
from printing.qrfast import QrSymbol
from printing.templates import Artwork, LabelTemplate, QrGeometry

__all__ = ["PT_PER_MM", "pdf_document"]

PT_PER_MM = 72 / 25.4
_NODE_SIZE = 256  # pages per intermediate page-tree node
_CHUNK = 256 * 1024


def _num(value: float) -> str:
    """Fixed width, so a label's content has the same length whatever its numbers."""
    return f"{value:10.3f}"


def _short(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") or "0"


def _pdf_string(text: str) -> bytes:
    if text.isascii() and text.isprintable():
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        return f"({escaped})".encode()
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode() + b">"


def _pdf_date(when: dt.datetime) -> str:
    return "D:" + when.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S") + "Z"


def _stream(num: bytes, head: str, data: bytes) -> bytes:
    return (
        num
        + b" 0 obj\n<< "
        + head.encode()
        + f" /Length {len(data)} >>\nstream\n".encode()
        + data
        + b"\nendstream\nendobj\n"
    )


def _to_unicode(font: LabelFont) -> bytes:
    pairs = sorted((cid, char) for char, cid in font.cids.items())
    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        "<0000> <FFFF>",
        "endcodespacerange",
    ]
    for start in range(0, len(pairs), 100):
        chunk = pairs[start : start + 100]
        lines.append(f"{len(chunk)} beginbfchar")
        lines.extend(f"<{cid:04X}> <{char.encode('utf-16-be').hex().upper()}>" for cid, char in chunk)
        lines.append("endbfchar")
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines).encode()


def _widths(font: LabelFont) -> str:
    return "[" + " ".join(f"{cid} [{w}]" for cid, w in sorted(font.widths.items())) + "]"


@dataclass(frozen=True, slots=True)
class _Placement:
    """Per label: where the label sits on its page (bottom-left, points)."""

    ox: float
    oy: float


class _Doc:
    def __init__(self, prepared: PreparedJob, title: str) -> None:
        self.p = prepared
        self.t: LabelTemplate = prepared.template
        self.font = prepared.font
        self.title = title
        t = self.t
        self.w = t.width_mm * PT_PER_MM
        self.h = t.height_mm * PT_PER_MM
        self.bleed = t.bleed_mm * PT_PER_MM
        job = prepared.job
        self.count = job.count
        sheet = t.sheet
        if t.layout == "sheet":
            assert sheet is not None  # checked when the template was loaded
            self.per_page = sheet.per_page
            self.page_w = sheet.page_width_mm * PT_PER_MM
            self.page_h = sheet.page_height_mm * PT_PER_MM
        else:
            self.per_page = 1
            self.page_w = self.w + 2 * self.bleed
            self.page_h = self.h + 2 * self.bleed
        self.pages = -(-self.count // self.per_page)
        self.nodes = -(-self.pages // _NODE_SIZE)
        # Fixed objects: 1 catalog, 2 page tree root, 3 info, 4-8 font, 9 label art, 10 sheet art,
        # then the artwork images, then one slot per page, then the page-tree nodes.
        self.art_images = [a for a in t.artwork if a.kind == "image"]
        self.first_image = 11
        self.first_slot = self.first_image + len(self.art_images)
        self.per_slot = 2 + self.per_page  # page, content, one QR image per label
        self.first_node = self.first_slot + self.pages * self.per_slot
        self.last_obj = self.first_node + self.nodes - 1
        self.digits = len(str(self.last_obj))

    def ref(self, num: int) -> bytes:
        return f"{num:0{self.digits}d}".encode()

    # Static parts

    def _text_ops(self, fitted: FittedText, value: str) -> str:
        spec = fitted.spec
        size = fitted.size_pt
        width = self.font.width_mm(value, size)
        if width > spec.max_width_mm:
            size = size * spec.max_width_mm / width
            width = spec.max_width_mm
        x = spec.x_mm - {"left": 0.0, "center": width / 2, "right": width}[spec.align]
        y = self.t.height_mm - spec.y_mm
        return (
            f"BT /F1 {_num(size)} Tf 1 0 0 1 {_num(x * PT_PER_MM)} {_num(y * PT_PER_MM)} Tm "
            f"{self.font.encode(value).decode()} Tj ET\n"
        )

    def _art_content(self) -> bytes:
        t = self.t
        ops = ["0 g 0 G\n"]
        for index, art in enumerate(t.artwork):
            ops.append(self._artwork_ops(art, index))
        if t.pin is not None:
            pin = t.pin
            ops.append(
                f"0.25 w {_short(pin.x_mm * PT_PER_MM)} {_short((t.height_mm - pin.y_mm - pin.height_mm) * PT_PER_MM)} "
                f"{_short(pin.width_mm * PT_PER_MM)} {_short(pin.height_mm * PT_PER_MM)} re S\n"
            )
        for fitted in self.p.static_texts:
            ops.append(self._text_ops(fitted, fitted.value))
        return "".join(ops).encode()

    def _artwork_ops(self, art: Artwork, index: int) -> str:
        x = art.x_mm * PT_PER_MM
        y = (self.t.height_mm - art.y_mm - art.height_mm) * PT_PER_MM
        w, h = art.width_mm * PT_PER_MM, art.height_mm * PT_PER_MM
        if art.kind == "frame":
            lw = art.line_mm * PT_PER_MM
            return f"{_short(lw)} w {_short(x + lw / 2)} {_short(y + lw / 2)} {_short(w - lw)} {_short(h - lw)} re S\n"
        number = self.art_images.index(art)
        return f"q {_short(w)} 0 0 {_short(h)} {_short(x)} {_short(y)} cm /Im{number} Do Q\n"

    def _sheet_content(self) -> bytes:
        """Crop marks in the page margins, at the edges of the label grid (never over a label)."""
        t = self.t
        sheet = t.sheet
        if sheet is None or not sheet.crop_marks:
            return b""
        ops = ["0 g 0 G 0.25 w\n"]
        gap, length = 2.0, 5.0
        ph = sheet.page_height_mm
        lefts = [sheet.left_mm + c * sheet.column_pitch_mm for c in range(sheet.columns)]
        xs = sorted({round(v, 4) for x in lefts for v in (x, x + t.width_mm)})
        tops = [sheet.top_mm + r * sheet.row_pitch_mm for r in range(sheet.rows)]
        ys = sorted({round(v, 4) for y in tops for v in (y, y + t.height_mm)})
        grid_top, grid_bottom = ys[0], ys[-1]
        grid_left, grid_right = xs[0], xs[-1]

        def line(x1: float, y1: float, x2: float, y2: float) -> None:
            ops.append(
                f"{_short(x1 * PT_PER_MM)} {_short((ph - y1) * PT_PER_MM)} m "
                f"{_short(x2 * PT_PER_MM)} {_short((ph - y2) * PT_PER_MM)} l S\n"
            )

        top_room = min(length, grid_top - gap)
        bottom_room = min(length, ph - grid_bottom - gap - 8.0)  # leave the footer line free
        left_room = min(length, grid_left - gap)
        right_room = min(length, sheet.page_width_mm - grid_right - gap)
        for x in xs:
            if top_room >= 1:
                line(x, grid_top - gap - top_room, x, grid_top - gap)
            if bottom_room >= 1:
                line(x, grid_bottom + gap, x, grid_bottom + gap + bottom_room)
        for y in ys:
            if left_room >= 1:
                line(grid_left - gap - left_room, y, grid_left - gap, y)
            if right_room >= 1:
                line(grid_right + gap, y, grid_right + gap + right_room, y)
        return "".join(ops).encode()

    def header(self) -> list[bytes]:
        """Objects 1 to first_slot - 1, in order."""
        t = self.t
        font = self.font
        job = self.p.job
        b = _short(self.bleed)
        objs: list[bytes] = []
        objs.append(b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
        objs.append(b"")  # the page tree root is written at the end
        info = {
            "Title": self.title,
            "Subject": f"Tem order {job.order_id}: {job.count} stamps for GTIN {job.gtin}, "
            f"serials {job.first_serial}–{job.last_serial}, template {t.name}",
            "Keywords": f"tem order {job.order_id}; gtin {job.gtin}; template {t.name}",
            "Creator": "Tem",
            "Producer": "Tem printing (printing/pdf.py)",
        }
        body = " ".join(f"/{k} {_pdf_string(v).decode()}" for k, v in info.items())
        body += f" /CreationDate ({_pdf_date(job.created_at)}) /TemOrder {job.order_id}"
        objs.append(f"3 0 obj\n<< {body} >>\nendobj\n".encode())
        bbox = " ".join(str(v) for v in font.bbox)
        objs.append(
            f"4 0 obj\n<< /Type /Font /Subtype /Type0 /BaseFont /{font.base_font} /Encoding /Identity-H "
            f"/DescendantFonts [5 0 R] /ToUnicode 8 0 R >>\nendobj\n".encode()
        )
        objs.append(
            f"5 0 obj\n<< /Type /Font /Subtype /CIDFontType0 /BaseFont /{font.base_font} "
            f"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
            f"/FontDescriptor 6 0 R /DW 1000 /W {_widths(font)} >>\nendobj\n".encode()
        )
        objs.append(
            f"6 0 obj\n<< /Type /FontDescriptor /FontName /{font.base_font} /Flags 4 /FontBBox [{bbox}] "
            f"/ItalicAngle 0 /Ascent {font.ascent} /Descent {font.descent} /CapHeight {font.cap_height} "
            f"/StemV 80 /FontFile3 7 0 R >>\nendobj\n".encode()
        )
        objs.append(_stream(b"7", "/Subtype /CIDFontType0C", font.cff))
        objs.append(_stream(b"8", "", _to_unicode(font)))
        xobjects = " ".join(f"/Im{i} {self.first_image + i} 0 R" for i in range(len(self.art_images)))
        objs.append(
            _stream(
                b"9",
                f"/Type /XObject /Subtype /Form /BBox [-{b} -{b} {_short(self.w + self.bleed)} "
                f"{_short(self.h + self.bleed)}] /Resources << /Font << /F1 4 0 R >> /XObject << {xobjects} >> >>",
                self._art_content(),
            )
        )
        objs.append(
            _stream(
                b"10",
                f"/Type /XObject /Subtype /Form /BBox [0 0 {_short(self.page_w)} {_short(self.page_h)}]",
                self._sheet_content(),
            )
        )
        for i, art in enumerate(self.art_images):
            assert art.image is not None  # image artwork is read when the template loads
            width, height, pixels = art.image
            objs.append(
                _stream(
                    str(self.first_image + i).encode(),
                    f"/Type /XObject /Subtype /Image /Width {width} /Height {height} /ImageMask true "
                    "/BitsPerComponent 1 /Decode [1 0]",
                    pixels,
                )
            )
        return objs

    def footer_ops(self, text: str) -> str:
        sheet = self.t.sheet
        assert sheet is not None
        size = self.p.footer_size_pt
        return (
            f"BT /F1 {_num(size)} Tf 1 0 0 1 {_num(sheet.left_mm * PT_PER_MM)} {_num(5.0 * PT_PER_MM)} Tm "
            f"{self.font.encode(text).decode()} Tj ET\n"
        )

    # Per label

    def label_ops(self, label: Label, symbol: QrSymbol, place: _Placement, image: str) -> str:
        t = self.t
        geometry: QrGeometry = self.p.geometry(symbol.version)
        ops = [f"q 1 0 0 1 {_num(place.ox)} {_num(place.oy)} cm /Art Do\n"]
        size = geometry.symbol_mm * PT_PER_MM
        qx = geometry.x_mm * PT_PER_MM
        qy = (t.height_mm - geometry.y_mm - geometry.symbol_mm) * PT_PER_MM
        ops.append(f"q {_num(size)} 0 0 {_num(size)} {_num(qx)} {_num(qy)} cm /{image} Do Q\n")
        for fitted in self.p.dynamic_texts:
            value = self.p.dynamic_value(fitted, label)
            if value is not None:
                ops.append(self._text_ops(fitted, value))
        if t.pin is not None and label.pin is not None:
            pin = t.pin
            text = group_pin(label.pin)
            width = self.font.width_mm(text, pin.size_pt)
            size_mm = pin.size_pt * 25.4 / 72
            x = pin.x_mm + (pin.width_mm - width) / 2
            y = t.height_mm - (pin.y_mm + pin.height_mm / 2 + 0.35 * size_mm)
            ops.append(
                f"BT /F1 {_num(pin.size_pt)} Tf 1 0 0 1 {_num(x * PT_PER_MM)} {_num(y * PT_PER_MM)} Tm "
                f"{self.font.encode(text).decode()} Tj ET\n"
            )
        barcode = self.p.barcode(label)
        if barcode is not None and t.gs1_128 is not None:
            area = t.gs1_128
            bars, dots = barcode
            modules = bars.modules
            width = len(modules) * dots * t.dot_mm
            x = self.p.barcode_left_dots(len(modules) * dots) * t.dot_mm
            y = t.height_mm - area.y_mm - area.height_mm
            bits = modules + "0" * (-len(modules) % 8)
            data = int(bits, 2).to_bytes(len(bits) // 8, "big").hex().upper()
            ops.append(
                f"q {_num(width * PT_PER_MM)} 0 0 {_num(area.height_mm * PT_PER_MM)} {_num(x * PT_PER_MM)} "
                f"{_num(y * PT_PER_MM)} cm BI /W {len(modules):4d} /H 1 /IM true /D [1 0] /F /AHx ID "
                f"{data}> EI Q\n"
            )
            if self.p.barcode_text is not None:
                ops.append(self._text_ops(self.p.barcode_text, bars.text))
        ops.append("Q\n")
        return "".join(ops)

    def image_obj(self, num: int, symbol: QrSymbol) -> bytes:
        return _stream(
            self.ref(num),
            f"/Type /XObject /Subtype /Image /Width {symbol.size} /Height {symbol.size} /ImageMask true "
            "/BitsPerComponent 1 /Decode [1 0]",
            symbol.rows,
        )


def _worst_labels(doc: _Doc) -> tuple[list[Label], QrSymbol]:
    """Labels with the longest content this document can hold (for sizing the slots): a serial of
    every length in the order with each of its lots (``PreparedJob.sample_labels``; the GS1-128 of a
    numeric lot can be shorter than that of a shorter alphanumeric one, and that of an odd number of
    digits longer than that of the next length), a PIN and the largest QR version."""
    p = doc.p
    job = p.job
    version = max(p.geometries)
    size = version * 4 + 17
    symbol = QrSymbol(version, "Q", 0, size, bytes((size + 7) // 8 * size))
    pin = "0" * 8 if job.pin else None
    return [Label(serial, "", lot, pin) for serial, lot in p.sample_labels()], symbol


def pdf_document(
    prepared: PreparedJob, title: str | None = None, on_labels: Callable[[int], None] | None = None
) -> Iterator[bytes]:
    """Yield the PDF in chunks of about 256 KiB; nothing per label is kept.

    ``on_labels(n)`` is told how many more labels are done each time a chunk is yielded."""
    job = prepared.job
    title = title or (
        f"Tem order {job.order_id} · {prepared.template.name} · serials {job.first_serial}–{job.last_serial}"
    )
    doc = _Doc(prepared, title)
    return _Writer(doc, on_labels).run()


class _Writer:
    """Writes the document body: fixed-size page slots, the page tree, the cross-reference table."""

    def __init__(self, doc: _Doc, on_labels: Callable[[int], None] | None) -> None:
        self.doc = doc
        self.on_labels = on_labels
        self.out: list[bytes] = []
        self.pending = 0  # bytes not yet yielded
        self.position = 0
        self.offsets: dict[int, int] = {}  # objects outside the slots
        p = doc.p
        job = p.job
        sheet = doc.t.sheet
        # Slot sizes come from the label with the longest content this document can hold.
        worst, worst_symbol = _worst_labels(doc)
        self.image_slot = len(doc.image_obj(doc.first_slot, worst_symbol))
        longest = max(len(doc.label_ops(label, worst_symbol, _Placement(0, 0), "Q999")) for label in worst)
        content = longest * doc.per_page
        if sheet is not None and sheet.footer:
            content += len(doc.footer_ops(p.footer(doc.pages, doc.pages, job.last_serial, job.last_serial)))
        self.content_len = content + 48
        self.page_len = len(self.page_obj(0, doc.per_page))
        self.content_obj_len = len(_stream(doc.ref(0), "", b" " * self.content_len))
        self.slot_len = self.page_len + self.content_obj_len + doc.per_page * self.image_slot
        self.slots_start = 0

    def emit(self, data: bytes) -> None:
        self.out.append(data)
        self.pending += len(data)
        self.position += len(data)

    def flush(self) -> bytes:
        data = b"".join(self.out)
        self.out.clear()
        self.pending = 0
        return data

    def page_obj(self, page: int, labels_on_page: int) -> bytes:
        doc = self.doc
        num = doc.first_slot + page * doc.per_slot
        images = " ".join(f"/Q{j} {doc.ref(num + 2 + j).decode()} 0 R" for j in range(labels_on_page))
        extra = ""
        if doc.t.layout == "roll" and doc.bleed > 0:
            b = doc.bleed
            extra = (
                f" /TrimBox [{_short(b)} {_short(b)} {_short(b + doc.w)} {_short(b + doc.h)}]"
                f" /BleedBox [0 0 {_short(doc.page_w)} {_short(doc.page_h)}]"
            )
        sheet = " /Sheet 10 0 R" if doc.t.layout == "sheet" else ""
        parent = doc.first_node + page // _NODE_SIZE
        return (
            doc.ref(num)
            + f" 0 obj\n<< /Type /Page /Parent {doc.ref(parent).decode()} 0 R /Contents "
            f"{doc.ref(num + 1).decode()} 0 R{extra} /Resources << /Font << /F1 4 0 R >> /XObject << "
            f"/Art 9 0 R{sheet} {images} >> >> >>\nendobj\n".encode()
        )

    def placements(self, page: int, labels: Iterator[Label]) -> list[tuple[Label, QrSymbol, _Placement]]:
        doc = self.doc
        t = doc.t
        sheet = t.sheet
        encode = doc.p.encoder
        placed: list[tuple[Label, QrSymbol, _Placement]] = []
        for j in range(min(doc.per_page, doc.count - page * doc.per_page)):
            label = next(labels)
            if sheet is not None:
                col, row = j % sheet.columns, j // sheet.columns
                place = _Placement(
                    (sheet.left_mm + col * sheet.column_pitch_mm) * PT_PER_MM,
                    (sheet.page_height_mm - sheet.top_mm - row * sheet.row_pitch_mm - t.height_mm) * PT_PER_MM,
                )
            else:
                place = _Placement(doc.bleed, doc.bleed)
            placed.append((label, encode(label.uri), place))
        return placed

    def slot(self, page: int, placed: list[tuple[Label, QrSymbol, _Placement]]) -> bytes:
        doc = self.doc
        sheet = doc.t.sheet
        num = doc.first_slot + page * doc.per_slot
        ops = []
        if sheet is not None:
            ops.append("/Sheet Do\n")
            if sheet.footer:
                ops.append(doc.footer_ops(doc.p.footer(page + 1, doc.pages, placed[0][0].serial, placed[-1][0].serial)))
        ops.extend(doc.label_ops(label, symbol, place, f"Q{j}") for j, (label, symbol, place) in enumerate(placed))
        content = "".join(ops).encode()
        if len(content) > self.content_len:
            raise PrintError(f"internal: page {page + 1} content is larger than its slot")
        page_bytes = self.page_obj(page, len(placed))
        parts = [
            page_bytes[:-1] + b" " * (self.page_len - len(page_bytes)) + b"\n",
            _stream(doc.ref(num + 1), "", content + b" " * (self.content_len - len(content))),
        ]
        for j, (label, symbol, _place) in enumerate(placed):
            image = doc.image_obj(num + 2 + j, symbol)
            if len(image) > self.image_slot:
                raise PrintError(f"internal: the QR image of serial {label.serial} is larger than its slot")
            parts.append(image[:-1] + b" " * (self.image_slot - len(image)) + b"\n")
        data = b"".join(parts)
        if page < doc.pages - 1 and len(data) != self.slot_len:
            raise PrintError("internal: a page slot has the wrong size")
        return data

    def tree(self) -> Iterator[bytes]:
        """Intermediate page-tree nodes, then the root (object 2)."""
        doc = self.doc
        for node in range(doc.nodes):
            num = doc.first_node + node
            first_page = node * _NODE_SIZE
            pages = range(first_page, min(doc.pages, first_page + _NODE_SIZE))
            kids = " ".join(f"{doc.ref(doc.first_slot + pg * doc.per_slot).decode()} 0 R" for pg in pages)
            self.offsets[num] = self.position
            self.emit(
                doc.ref(num)
                + f" 0 obj\n<< /Type /Pages /Parent 2 0 R /Count {len(pages)} /Kids [{kids}] >>\nendobj\n".encode()
            )
            if self.pending >= _CHUNK:
                yield self.flush()
        self.offsets[2] = self.position
        kids = " ".join(f"{doc.ref(doc.first_node + n).decode()} 0 R" for n in range(doc.nodes))
        box = f"/MediaBox [0 0 {_short(doc.page_w)} {_short(doc.page_h)}]"
        self.emit(f"2 0 obj\n<< /Type /Pages /Count {doc.pages} {box} /Kids [{kids}] >>\nendobj\n".encode())

    def xref(self) -> Iterator[bytes]:
        """The cross-reference table; the offsets of objects in slots are arithmetic."""
        doc = self.doc
        xref_at = self.position
        self.emit(f"xref\n0 {doc.last_obj + 1}\n0000000000 65535 f \n".encode())
        lines: list[str] = []
        within = [0, self.page_len] + [
            self.page_len + self.content_obj_len + j * self.image_slot for j in range(doc.per_page)
        ]
        last_page_labels = doc.count - (doc.pages - 1) * doc.per_page
        for number in range(1, doc.last_obj + 1):
            if number in self.offsets:
                lines.append(f"{self.offsets[number]:010d} 00000 n \n")
            elif doc.first_slot <= number < doc.first_node:
                page, k = divmod(number - doc.first_slot, doc.per_slot)
                if page == doc.pages - 1 and k >= 2 + last_page_labels:
                    lines.append("0000000000 65535 f \n")  # images of labels the last sheet does not have
                else:
                    lines.append(f"{self.slots_start + page * self.slot_len + within[k]:010d} 00000 n \n")
            else:
                lines.append("0000000000 65535 f \n")
            if len(lines) >= 8192:
                self.emit("".join(lines).encode())
                lines.clear()
                if self.pending >= _CHUNK:
                    yield self.flush()
        self.emit("".join(lines).encode())
        self.emit(
            f"trailer\n<< /Size {doc.last_obj + 1} /Root 1 0 R /Info 3 0 R >>\nstartxref\n{xref_at}\n%%EOF\n".encode()
        )

    def run(self) -> Iterator[bytes]:
        doc = self.doc
        self.emit(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        for number, obj in enumerate(doc.header(), start=1):
            if obj:
                self.offsets[number] = self.position
                self.emit(obj)
        self.slots_start = self.position
        labels = doc.p.labels()
        done = 0
        for page in range(doc.pages):
            placed = self.placements(page, labels)
            self.emit(self.slot(page, placed))
            done += len(placed)
            if self.pending >= _CHUNK:
                if self.on_labels is not None:
                    self.on_labels(done)
                    done = 0
                yield self.flush()
        if self.on_labels is not None and done:
            self.on_labels(done)
        yield from self.tree()
        yield from self.xref()
        yield self.flush()


def static_art_pdf(prepared: PreparedJob) -> bytes:
    """A one-page PDF of the label's fixed parts only (for rasterising the ZPL graphic)."""
    doc = _Doc(prepared, f"Tem order {prepared.job.order_id} fixed artwork")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for number, obj in enumerate(doc.header(), start=1):
        if obj:
            offsets[number] = len(out)
            out += obj
    page, content = doc.first_slot, doc.first_slot + 1
    offsets[2] = len(out)
    out += (
        f"2 0 obj\n<< /Type /Pages /Count 1 /MediaBox [0 0 {_short(doc.w)} {_short(doc.h)}] "
        f"/Kids [{page} 0 R] >>\nendobj\n".encode()
    )
    offsets[page] = len(out)
    out += (
        f"{page} 0 obj\n<< /Type /Page /Parent 2 0 R /Contents {content} 0 R "
        f"/Resources << /XObject << /Art 9 0 R >> >> >>\nendobj\n".encode()
    )
    offsets[content] = len(out)
    out += _stream(str(content).encode(), "", b"/Art Do\n")
    xref = len(out)
    out += f"xref\n0 {content + 1}\n0000000000 65535 f \n".encode()
    for number in range(1, content + 1):
        if number in offsets:
            out += f"{offsets[number]:010d} 00000 n \n".encode()
        else:
            out += b"0000000000 65535 f \n"
    out += f"trailer\n<< /Size {content + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
