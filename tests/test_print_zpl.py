"""ZPL for roll printers, checked structurally: one label a stamp, the right URI in ^FD."""

from __future__ import annotations

import re

import pytest

from printing.errors import PrintError
from printing.labels import LotRange, LotsRequired, group_serial, prepare
from printing.zpl import GRAPHIC_NAME, zpl_document
from tests.print_support import expected_uris, job, template


@pytest.mark.parametrize("name", ["durian-fruit-tag", "durian-box-label"])
def test_one_label_a_stamp_with_its_uri(name: str) -> None:
    tpl = template(name)
    first, last = 9995, 10004
    lots = (LotRange(9995, 9996, "LOT-A"),) + ((LotRange(9997, 10004, "LOT-B"),) if tpl.gs1_128 else ())
    text = b"".join(zpl_document(prepare(tpl, job(first, last, lots)))).decode()
    blocks = re.findall(r"\^XA(.*?)\^XZ", text, flags=re.DOTALL)
    labels = [b for b in blocks if "^BQN" in b]
    assert len(labels) == last - first + 1
    for label, uri, serial in zip(labels, expected_uris(first, last), range(first, last + 1), strict=True):
        fields = re.findall(r"\^FD(.*?)\^FS", label)
        assert fields.count(f"QA,{uri}") == 1  # Q error correction, automatic input, the exact URI
        assert sum("QA," in f for f in fields) == 1
        qr = re.search(r"\^BQN,2,(\d+)", label)
        assert qr is not None
        geometry = tpl.qr_geometry(9 if len(uri) < 180 else 10)
        assert int(qr.group(1)) == geometry.module_dots >= 3
        assert f"^XG{GRAPHIC_NAME},1,1" in label
        assert f"^PW{round(tpl.width_mm / 25.4 * tpl.dpi)}" in label
        assert group_serial(serial) in label
        assert ("LOT-A" in label) == (serial <= 9996)
    # The fixed artwork is downloaded once, before the labels, and deleted after them.
    assert text.count(f"~DG{GRAPHIC_NAME},") == 1
    assert text.index(f"~DG{GRAPHIC_NAME},") < text.index("^BQN")
    assert text.rstrip().endswith(f"^XA^ID{GRAPHIC_NAME}^FS^XZ")
    total, row_bytes, data = re.search(r"~DG[^,]+,(\d+),(\d+),([0-9A-F]+)\n", text).groups()  # type: ignore[union-attr]
    assert len(data) == 2 * int(total)
    assert int(row_bytes) == (round(tpl.width_mm / 25.4 * tpl.dpi) + 7) // 8
    assert set(data) - {"0"}  # something is drawn


def test_box_label_has_gs1_128_and_pin() -> None:
    text = b"".join(zpl_document(prepare(template("durian-box-label"), job(1, 2, (LotRange(1, 2, "L1"),))))).decode()
    assert text.count("^BCN,") == 2
    assert re.search(r"\^FD\d{4} \d{4}\^FS", text)


def test_box_label_gs1_128_command_and_data() -> None:
    tpl = template("durian-box-label")
    lots = (LotRange(1234567, 1234568, "TG-RI6-2026-001"),)
    text = b"".join(zpl_document(prepare(tpl, job(1234567, 1234568, lots)))).decode()
    # Mode N, the symbol spelled out: >; start C, >8 FNC1 first, (01) and the GTIN in digit pairs, (21)
    # and the serial's even digits, >6 Code B for its odd last digit, >8 FNC1 after the variable-length
    # serial, then (10) and the lot in Code B; 2 dots a module, 22 mm = 176 dots tall, no printer
    # interpretation line (Tem prints its own under the bars). The bars are centred in the 144 mm slot
    # from x = 2 mm, 68 mm (543 dots) down.
    assert re.findall(r"\^FO\d+,\d+\^BY[^^]*\^BC[^^]*\^FD[^^]*\^FS", text) == [
        "^FO193,543^BY2^BCN,176,N,N,N,N^FD>;>8010893860450001021123456>67>810TG-RI6-2026-001^FS",
        "^FO193,543^BY2^BCN,176,N,N,N,N^FD>;>8010893860450001021123456>68>810TG-RI6-2026-001^FS",
    ]
    # The interpretation line: font 0, 9 pt (25 dots), centred in the slot's 144 mm (1151 dots).
    assert re.findall(r"\^FO\d+,\d+\^A0N[^^]*\^FB[^^]*\^FH\^FD\(01\)[^^]*\^FS", text) == [
        "^FO16,724^A0N,25,25^FB1151,1,0,C^FH^FD(01)08938604500010(21)1234567(10)TG-RI6-2026-001^FS",
        "^FO16,724^A0N,25,25^FB1151,1,0,C^FH^FD(01)08938604500010(21)1234568(10)TG-RI6-2026-001^FS",
    ]


def test_gs1_128_lot_after_fnc1_in_zpl() -> None:
    from printing.gs1 import gs1_128

    symbol = gs1_128("08938604500010", 12345678, "LOT>1")
    # (21) in Code C, FNC1 after the variable-length serial, (10) in Code C, the lot in Code B (">" is >0).
    assert symbol.zpl_field_data() == ">;>801089386045000102112345678>810>6LOT>01"
    assert symbol.zpl_field_data().replace(">0", "").count(">8") == 2
    assert symbol.text == "(01)08938604500010(21)12345678(10)LOT>1"


def test_box_label_without_a_lot_is_not_zpl_either() -> None:
    with pytest.raises(LotsRequired, match="activate serials 3–4 on their lot first"):
        list(zpl_document(prepare(template("durian-box-label"), job(1, 4, (LotRange(1, 2, "L1"),)))))


def test_sheet_template_is_not_zpl() -> None:
    with pytest.raises(PrintError, match="roll"):
        list(zpl_document(prepare(template("a4-sheet-5x13"), job(1, 2))))
