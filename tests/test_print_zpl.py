"""ZPL for roll printers, checked structurally: one label a stamp, the right URI in ^FD."""

from __future__ import annotations

import re

import pytest

from printing.errors import PrintError
from printing.labels import LotRange, group_serial, prepare
from printing.zpl import GRAPHIC_NAME, zpl_document
from tests.print_support import expected_uris, job, template


@pytest.mark.parametrize("name", ["durian-fruit-tag", "durian-box-label"])
def test_one_label_a_stamp_with_its_uri(name: str) -> None:
    tpl = template(name)
    first, last = 9995, 10004
    text = b"".join(zpl_document(prepare(tpl, job(first, last, (LotRange(9995, 9996, "LOT-A"),))))).decode()
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


def test_box_label_has_code128_and_pin() -> None:
    text = b"".join(zpl_document(prepare(template("durian-box-label"), job(1, 2)))).decode()
    assert text.count("^BCN,") == 2
    assert re.search(r"\^FD\d{4} \d{4}\^FS", text)


def test_sheet_template_is_not_zpl() -> None:
    with pytest.raises(PrintError, match="roll"):
        list(zpl_document(prepare(template("a4-sheet-5x13"), job(1, 2))))
