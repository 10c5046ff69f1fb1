"""Label templates: the shipped ones load, and bad geometry is refused with a clear message."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from printing.templates import TemplateError, list_templates, load_template, parse_template
from tests.print_support import TEMPLATES

SHIPPED = ("durian-fruit-tag", "durian-box-label", "a4-sheet-5x13")


def raw(name: str) -> dict[str, Any]:
    return tomllib.loads((TEMPLATES / f"{name}.toml").read_text(encoding="utf-8"))


def test_the_three_required_templates_ship_and_load() -> None:
    assert set(SHIPPED) <= set(list_templates(TEMPLATES))
    tag = load_template(TEMPLATES, "durian-fruit-tag")
    assert (tag.layout, tag.width_mm, tag.height_mm) == ("roll", 30, 20)
    box = load_template(TEMPLATES, "durian-box-label")
    assert (box.layout, box.width_mm, box.height_mm) == ("roll", 148, 105)  # A6, landscape
    assert box.gs1_128 is not None
    assert box.pin is not None
    assert any(a.kind == "image" for a in box.artwork)
    sheet = load_template(TEMPLATES, "a4-sheet-5x13")
    assert sheet.sheet is not None
    assert (sheet.width_mm, sheet.height_mm, sheet.sheet.columns, sheet.sheet.rows) == (38.1, 21.2, 5, 13)
    assert (sheet.sheet.page_width_mm, sheet.sheet.page_height_mm) == (210, 297)


@pytest.mark.parametrize("name", SHIPPED)
def test_modules_are_whole_printer_dots_of_at_least_three(name: str) -> None:
    template = load_template(TEMPLATES, name)
    for version in (9, 10):
        geometry = template.qr_geometry(version)
        assert geometry.module_dots >= 3
        assert geometry.symbol_mm >= 12
        assert geometry.module_mm == pytest.approx(geometry.module_dots * 25.4 / template.dpi)


def check_refused(name: str, change: Any, message: str) -> None:
    data = copy.deepcopy(raw(name))
    change(data)
    with pytest.raises(TemplateError, match=message):
        parse_template(data, TEMPLATES / f"{name}.toml")


def test_module_smaller_than_three_dots_is_refused() -> None:
    # The 30 x 20 mm tag at 203 dpi: 14.5 mm / 53 modules is 2.2 dots.
    check_refused("durian-fruit-tag", lambda d: d.update(dpi=203), r"2\.\d+ printer dots at 203 dpi; at least 3")


def test_qr_smaller_than_12_mm_is_refused() -> None:
    def shrink(d: dict[str, Any]) -> None:
        d["dpi"] = 1200
        d["qr"]["size_mm"] = 11.0

    check_refused("durian-fruit-tag", shrink, r"would be 1\d\.\d mm wide; phones need at least 12 mm")


def test_qr_with_quiet_zone_outside_the_label_is_refused() -> None:
    check_refused("durian-fruit-tag", lambda d: d["qr"].update(x_mm=0.2), "does not fit inside the 30 × 20 mm label")


def test_text_in_the_quiet_zone_is_refused() -> None:
    check_refused("durian-fruit-tag", lambda d: d["text"][0].update(x_mm=15.5), "reaches into the QR code's quiet zone")


def test_text_outside_the_label_is_refused() -> None:
    check_refused("durian-fruit-tag", lambda d: d["text"][0].update(max_width_mm=20), "does not fit inside")


def test_sheet_that_overflows_the_page_is_refused() -> None:
    check_refused("a4-sheet-5x13", lambda d: d["sheet"].update(rows=14), "beyond the 210 × 297 mm page")
    check_refused("a4-sheet-5x13", lambda d: d["sheet"].update(column_pitch_mm=30), "labels overlap")


def test_unknown_fields_and_placeholders_are_refused() -> None:
    check_refused("durian-fruit-tag", lambda d: d["qr"].update(colour="red"), r"unknown field\(s\) in qr\.: colour")
    check_refused("durian-fruit-tag", lambda d: d["text"][0].update(value="{price}"), r"uses \{price\}")
    check_refused("durian-fruit-tag", lambda d: d["qr"].update(size_mm="big"), r"qr\.size_mm must be a number")
    check_refused("durian-fruit-tag", lambda d: d.update(format="other/1"), "format must be")


def test_unknown_template_names_the_available_ones(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"unknown label template 'nope'; available: .*durian-fruit-tag"):
        load_template(TEMPLATES, "nope")
    with pytest.raises(TemplateError, match="unknown label template"):
        load_template(TEMPLATES, "../etc/passwd")
    (tmp_path / "broken.toml").write_text("name = [", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"cannot read broken\.toml"):
        load_template(tmp_path, "broken")
