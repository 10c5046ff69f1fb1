"""PDF output, checked the way a printer and a phone see it: rasterised with pdfium, every QR
code decoded with zxing-cpp, and each decoded URI compared with the issued one and verified."""

from __future__ import annotations

import re
import tomllib

import pypdfium2 as pdfium
import pytest
from PIL import ImageChops

from crypto.pin import PinDeriver
from printing.errors import PrintError
from printing.fonts import label_font
from printing.gs1 import QUIET_ZONE_MODULES, gs1_128
from printing.labels import LotRange, LotsRequired, barcode_module_dots, group_pin, prepare
from printing.pdf import PT_PER_MM, pdf_document
from printing.templates import parse_template
from tests.print_support import (
    GTIN,
    LOT,
    PIN_KEY,
    TEMPLATES,
    assert_genuine,
    decode_all,
    decode_gs1_128,
    expected_uris,
    job,
    keyset,
    render,
    template,
)


def build(name: str, first: int, last: int, **kwargs: object) -> bytes:
    """A PDF of serials first..last; a box label's serials are on lot LOT unless ``lots`` says otherwise
    (its GS1-128 carries the lot, so it prints only for serials activated on one)."""
    if name == "durian-box-label":
        kwargs.setdefault("lots", (LotRange(first, last, LOT),))
    return b"".join(pdf_document(prepare(template(name), job(first, last, **kwargs))))  # type: ignore[arg-type]


def page_texts(data: bytes) -> list[str]:
    pdf = pdfium.PdfDocument(data)
    try:
        return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
    finally:
        pdf.close()


@pytest.mark.parametrize("name", ["durian-fruit-tag", "durian-box-label"])
@pytest.mark.parametrize("dpi", [203, 300])
def test_roll_every_label_decodes_to_its_issued_stamp(name: str, dpi: int) -> None:
    first, last = 9991, 10014  # the serial gets a digit longer inside the order
    data = build(name, first, last)
    pages = list(render(data, dpi))
    assert len(pages) == last - first + 1  # one label a page
    decoded = [decode_all(page) for page in pages]
    expected = expected_uris(first, last)
    assert decoded == [[uri] for uri in expected]  # 100%, in order, nothing extra
    assert_genuine([d[0] for d in decoded], keyset())


def test_roll_page_size_is_the_label_size() -> None:
    for name, size in (("durian-fruit-tag", (30, 20)), ("durian-box-label", (148, 105))):
        pdf = pdfium.PdfDocument(build(name, 1, 2))
        width, height = pdf[0].get_size()
        assert (round(width / PT_PER_MM, 2), round(height / PT_PER_MM, 2)) == size
        pdf.close()


def test_sheet_every_label_decodes_and_the_footer_names_the_range() -> None:
    first, last = 1201, 1290  # one full sheet of 65 and one of 25
    data = build("a4-sheet-5x13", first, last)
    pages = list(render(data, 300))
    assert len(pages) == 2
    decoded = [sorted(decode_all(page)) for page in pages]
    expected = expected_uris(first, last)
    assert decoded[0] == sorted(expected[:65])
    assert decoded[1] == sorted(expected[65:])
    assert_genuine(expected, keyset())
    texts = page_texts(data)
    assert "Đơn 42 · tờ 1/2 · số sê-ri 1201–1265 — order 42 · sheet 1/2 · serials 1201–1265" in texts[0]
    assert "Đơn 42 · tờ 2/2 · số sê-ri 1266–1290 — order 42 · sheet 2/2 · serials 1266–1290" in texts[1]
    width, height = pdfium.PdfDocument(data)[0].get_size()
    assert (round(width / PT_PER_MM), round(height / PT_PER_MM)) == (210, 297)


def content_streams(data: bytes) -> list[bytes]:
    """Page contents and forms (the streams with drawing operators), not fonts, maps or images."""
    found = []
    for match in re.finditer(rb"\d+ 0 obj\n<< ?(.*?) /Length (\d+) >>\nstream\n", data):
        head = match.group(1)
        body = data[match.end() : match.end() + int(match.group(2))]
        if (b"/Subtype /Form" in head or not head.strip()) and not body.startswith(b"/CIDInit"):
            found.append(body)
    return found


def test_black_only() -> None:
    data = build("durian-box-label", 1, 2)
    streams = content_streams(data)
    assert len(streams) >= 3  # two label pages and the artwork form
    for stream in streams:
        text = re.sub(rb"ID .*? EI", b"", stream, flags=re.DOTALL)  # inline image data
        tokens = set(text.split())
        assert not tokens & {b"rg", b"RG", b"k", b"K", b"sc", b"SC", b"scn", b"SCN", b"cs", b"CS", b"gs"}
        assert not text.strip() or b"0 g" in text or b"Do" in text
    for name in (b"/DeviceRGB", b"/DeviceCMYK", b"/ICCBased", b"/Pattern", b"/SMask", b"/ExtGState"):
        assert name not in data
    pdf = pdfium.PdfDocument(data)
    image = pdf[0].render(scale=300 / 72).to_pil().convert("RGB")
    pdf.close()
    red, green, blue = image.split()
    assert ImageChops.difference(red, green).getbbox() is None
    assert ImageChops.difference(green, blue).getbbox() is None


def test_qr_is_an_exact_scale_image_mask() -> None:
    name = "durian-fruit-tag"
    tpl = template(name)
    data = build(name, 1, 3)
    images = re.findall(rb"/Subtype /Image /Width (\d+) /Height (\d+) /ImageMask true /BitsPerComponent 1", data)
    assert images == [(b"53", b"53")] * 3  # one image a QR code (version 9), and the tag has no artwork
    geometry = tpl.qr_geometry(9)
    size = f"{geometry.symbol_mm * PT_PER_MM:10.3f}".encode()
    assert data.count(b"q " + size + b" 0 0 " + size) == 3
    assert geometry.module_mm * 300 / 25.4 == pytest.approx(3)  # three printer dots a module


def test_fonts_are_embedded_and_render_vietnamese_and_chinese() -> None:
    data = build("durian-box-label", 1, 2)
    assert b"/FontFile3" in data
    assert b"/Subtype /CIDFontType0C" in data
    assert b"/Subtype /Type1" not in data  # no unembedded standard font
    text = page_texts(data)[0]
    for expected in ("Sầu riêng Ri6", "Ri6 榴莲", "出口至中华人民共和国", "Cào lấy mã PIN"):
        assert expected in text


def test_fixed_parts_are_drawn_once_as_a_form() -> None:
    data = build("durian-box-label", 1, 40)
    assert data.count(b"/Subtype /Form") == 2  # the label artwork and the sheet marks
    assert data.count(b"/Art Do") == 40
    font = label_font("Sầu riêng Ri6出口至中华人民共和国")
    assert data.count(font.encode("Sầu riêng Ri6")[1:-1]) == 1
    assert data.count(font.encode("出口至中华人民共和国")[1:-1]) == 1


def test_metadata_names_the_order() -> None:
    pdf = pdfium.PdfDocument(build("durian-fruit-tag", 5, 6))
    meta = pdf.get_metadata_dict()
    pdf.close()
    assert meta["Title"] == "Tem order 42 · durian-fruit-tag · serials 5–6"
    assert "GTIN 08938604500010" in meta["Subject"]
    assert meta["Creator"] == "Tem"


def test_cross_reference_offsets_point_at_their_objects() -> None:
    for name, count in (("durian-fruit-tag", 7), ("a4-sheet-5x13", 70)):
        data = build(name, 1, count)
        start = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", data).group(1))  # type: ignore[union-attr]
        assert data[start : start + 5] == b"xref\n"
        header = re.match(rb"xref\n0 (\d+)\n", data[start:])
        assert header is not None
        entries = data[start + header.end() :].split(b"\n")[: int(header.group(1))]
        in_use = 0
        for number, entry in enumerate(entries):
            offset, _gen, kind = entry.split()
            if kind == b"n":
                in_use += 1
                match = re.match(rb"0*(\d+) 0 obj\n", data[int(offset) :])
                assert match is not None, (name, number)
                assert int(match.group(1)) == number, (name, number)
        assert in_use > count


def test_each_label_shows_its_lot_and_the_pin_matches_the_derivation() -> None:
    lots = (LotRange(1, 2, "TG-RI6-2026-001"), LotRange(3, 5, "TG-RI6-2026-002"))
    data = build("durian-box-label", 1, 5, lots=lots)
    texts = page_texts(data)
    pins = PinDeriver(PIN_KEY, GTIN)
    for index, text in enumerate(texts):
        serial = index + 1
        lot = "TG-RI6-2026-001" if serial <= 2 else "TG-RI6-2026-002"
        assert f"Lô / Lot {lot}" in text
        assert f"(01){GTIN}(21){serial}(10){lot}" in text  # the GS1-128's interpretation line
        assert group_pin(pins(serial)) in text


def test_streams_in_chunks_and_stays_small_per_label() -> None:
    count = 1500
    chunks = list(pdf_document(prepare(template("durian-fruit-tag"), job(100000, 100000 + count - 1))))
    assert len(chunks) > 3
    assert sum(len(c) for c in chunks) / count <= 1500


def test_text_that_does_not_fit_is_refused() -> None:
    long_job = job(1, 2)
    fields = dict(long_job.fields, product_name_vi="Sầu riêng Ri6 " * 8)
    object.__setattr__(long_job, "fields", fields)
    with pytest.raises(PrintError, match="too long for template field"):
        prepare(template("durian-fruit-tag"), long_job)


def test_pin_template_without_a_pin_key_is_refused() -> None:
    with pytest.raises(PrintError, match="no PIN key is configured"):
        prepare(template("durian-box-label"), job(1, 2, (LotRange(1, 2, LOT),), pin=False))


def test_characters_missing_from_the_font_are_refused() -> None:
    odd = job(1, 2)
    object.__setattr__(odd, "fields", dict(odd.fields, product_name_en="durian \U0001f34d"))
    with pytest.raises(PrintError, match="no glyph for"):
        prepare(template("durian-fruit-tag"), odd)


def test_docs_previews_exist_and_their_codes_verify_against_the_test_keyset() -> None:
    import json
    from pathlib import Path

    from PIL import Image

    from crypto import parse_keyset_document, parse_stamp_uri, verify_stamp
    from printing.templates import list_templates
    from tests.print_support import TEMPLATES

    root = Path(__file__).resolve().parents[1]
    keys = parse_keyset_document(json.loads((root / "tests" / "vectors" / "keyset.json").read_text()))
    for name in list_templates(TEMPLATES):
        with Image.open(root / "docs" / "labels" / f"{name}.png") as image:
            uris = decode_all(image.convert("L"))
        expected = 65 if name.startswith("a4-") else 1
        assert len(uris) == expected, name
        assert all(verify_stamp(parse_stamp_uri(u), keys) for u in uris), name


def test_gs1_128_widths_of_the_shipped_box_label() -> None:
    # The worst case: a 20-character lot all in Code set B (no digit pairs) and an 11-digit serial (its odd
    # digit makes a Code set change); a 12-digit serial is no longer. 475 modules at 2 dots (0.250 mm at
    # 203 dpi): 118.9 mm of bars, 123.9 mm with the quiet zones, inside the 144 mm slot of the 148 mm label.
    tpl = template("durian-box-label")
    assert tpl.gs1_128 is not None
    worst = max(
        (gs1_128(GTIN, serial, lot) for serial in (10**11 - 1, 10**11, 10**12 - 1) for lot in ("A" * 20, "A1" * 10)),
        key=lambda symbol: len(symbol.modules),
    )
    assert len(worst.modules) == 475
    assert barcode_module_dots(tpl, worst) == 2
    need = (len(worst.modules) + 2 * QUIET_ZONE_MODULES) * 2 * tpl.dot_mm
    assert round(need, 1) == 123.9 <= tpl.gs1_128.width_mm
    # Up to 20 digits of serial and a 20-character lot (the GS1 limits) still fit: at most 134.9 mm, with
    # 19 digits (odd, like 11).
    longest = gs1_128(GTIN, 10**19 - 1, "A" * 20)
    assert barcode_module_dots(tpl, longest) == 2


@pytest.mark.parametrize("dpi", [203, 300])
def test_gs1_128_of_the_shipped_box_label_carries_gtin_serial_and_lot(dpi: int) -> None:
    # 999 (odd digit count) has a longer GS1-128 than 1000; both sit in one order, on two lots.
    lots = (LotRange(996, 999, "TG-RI6-2026-001"), LotRange(1000, 1003, "L7"))
    data = build("durian-box-label", 996, 1003, lots=lots)
    pages = list(render(data, dpi))
    assert [decode_all(page) for page in pages] == [[uri] for uri in expected_uris(996, 1003)]
    on_lot = [(serial, "TG-RI6-2026-001") for serial in range(996, 1000)] + [(s, "L7") for s in range(1000, 1004)]
    # ]C1: FNC1 in first position (GS1-128); (01) GTIN-14, (21) serial, FNC1 (sent as GS, 0x1D), (10) lot last.
    assert [decode_gs1_128(page) for page in pages] == [
        [("]C1", f"(01){GTIN}(21){serial}(10){lot}", f"01{GTIN}21{serial}\x1d10{lot}".encode())]
        for serial, lot in on_lot
    ]
    # Spelled out for the first label: what a scanner sends after ]C1.
    assert decode_gs1_128(pages[0])[0][1:] == (
        "(01)08938604500010(21)996(10)TG-RI6-2026-001",
        b"010893860450001021996\x1d10TG-RI6-2026-001",
    )


@pytest.mark.parametrize("dpi", [203, 300])
def test_gs1_128_of_the_longest_lot_and_serial_decodes(dpi: int) -> None:
    # A 20-character lot (the most AI (10) holds, with ">" and other characters of the GS1 set) and a
    # 12-digit serial: (01)+(21)+(10) in one symbol at 2 dots a module.
    serial = 999_999_999_999
    lot = "LOT-2026/07_A<>b.!%Z"
    assert len(lot) == 20
    data = build("durian-box-label", serial - 1, serial, lots=(LotRange(serial - 1, serial, lot),))
    pages = list(render(data, dpi))
    assert [decode_all(page) for page in pages] == [[uri] for uri in expected_uris(serial - 1, serial)]
    assert [decode_gs1_128(page) for page in pages] == [
        [("]C1", f"(01){GTIN}(21){s}(10){lot}", f"01{GTIN}21{s}\x1d10{lot}".encode())] for s in (serial - 1, serial)
    ]
    assert f"(01){GTIN}(21){serial}(10){lot}" in page_texts(data)[1]  # the interpretation line under the bars


def test_box_label_of_serials_without_a_lot_is_refused() -> None:
    box = template("durian-box-label")
    message = "box labels carry the lot in their barcode: activate serials 1–2, 5 on their lot first, then print them"
    with pytest.raises(LotsRequired) as refused:
        prepare(box, job(1, 5, (LotRange(3, 4, "L1"),)))
    assert str(refused.value) == message
    assert refused.value.spans == [(1, 2), (5, 5)]
    with pytest.raises(LotsRequired, match="activate serials 1–2 on their lot"):
        prepare(box, job(1, 2))
    prepare(template("durian-fruit-tag"), job(1, 2))  # the fruit tag keeps its QR only: no lot needed


def test_a_symbol_too_wide_for_the_slot_is_refused_before_printing() -> None:
    data = tomllib.loads((TEMPLATES / "durian-box-label.toml").read_text(encoding="utf-8"))
    data["gs1_128"]["width_mm"] = 101  # the slot on an A7 label (105 × 74 mm): too narrow for a 20-character lot
    narrow = parse_template(data, TEMPLATES / "durian-box-label.toml")
    serial = 99_999_999_999
    prepare(narrow, job(serial, serial, (LotRange(serial, serial, "TG-RI6-2026"),)))  # 96.3 mm
    with pytest.raises(
        PrintError, match=r"\(10\)ABCDEFGHIJKLMNOPQRST is 475 modules.* 123\.9 mm at 2 .*gs1_128\.width_mm = 101"
    ):
        prepare(narrow, job(serial, serial, (LotRange(serial, serial, "ABCDEFGHIJKLMNOPQRST"),)))
