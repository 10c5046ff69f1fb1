"""Every word has every language: the consumer pages (vi, en, zh), the ministry's pages (vi, en, zh), the inspector
app (vi, en) and every alert type's name; and the places and times of the trace page read in the reader's words."""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

import pytest

from detection.engine.model import FindingType
from inspector.app import STATIC
from ministry import phrases
from resolver import i18n
from tests.conftest import World
from tests.test_ministry import login_csrf
from tests.test_trace_page import make_lot, path_of


def _missing(messages: dict[str, dict[str, str]], languages: tuple[str, ...]) -> list[str]:
    return [
        f"{key}: {lang}" for key, words in messages.items() for lang in languages if not words.get(lang, "").strip()
    ]


def test_every_consumer_message_has_vietnamese_english_and_chinese() -> None:
    assert i18n.LANGUAGES == ("vi", "en", "zh")
    assert _missing(i18n.MESSAGES, i18n.LANGUAGES) == []
    assert _missing(i18n.COUNTRY_NAMES, i18n.LANGUAGES) == []


def test_every_ministry_phrase_has_vietnamese_english_and_chinese() -> None:
    assert phrases.LANGUAGES == ("vi", "en", "zh")
    assert _missing(phrases.MESSAGES, phrases.LANGUAGES) == []


def test_the_ministrys_pages_read_in_chinese_after_logging_in(world: World) -> None:
    client = world.client
    token = world.ministry["Authorization"].removeprefix("Bearer ")
    assert "访问令牌" in client.get("/ministry/login?lang=zh").text
    login = client.post("/ministry/login?lang=zh", data={"token": token, "csrf": login_csrf(client)})
    assert login.status_code == 200  # followed to /ministry?lang=zh
    page = client.get("/ministry?lang=zh")
    assert page.status_code == 200
    assert '<html lang="zh">' in page.text
    assert "农业与环境部报告" in page.text
    assert "每日预警" in page.text
    assert 'hreflang="zh" aria-current="true">中文</a>' in page.text
    assert "Cảnh báo theo ngày" not in page.text
    assert "Alerts per day" not in page.text


def test_every_alert_type_has_a_name_in_the_ministrys_words() -> None:
    """The dashboard, an alert's page and the PDF name alert types in words, never as codes like off_route."""
    types = [t.value for t in FindingType] + ["consumer_report"]
    assert [name for name in types if f"at_{name}" not in phrases.MESSAGES] == []
    assert phrases.label("at", "off_route", "vi") == "ngoài tuyến vận chuyển"


def test_the_inspector_app_has_every_word_in_both_languages() -> None:
    source = (Path(STATIC) / "app.js").read_text(encoding="utf-8")
    body = source[source.index("const WORDS = {") :]
    english = body[body.index("  en: {") : body.index("  vi: {")]
    vietnamese = body[body.index("  vi: {") : body.index("\n};")]
    keys = re.compile(r"^    ([a-z_0-9]+):", re.MULTILINE)
    assert set(keys.findall(english)) == set(keys.findall(vietnamese))
    assert "login_401" in keys.findall(vietnamese)  # the login's refusals, not the server's English


@pytest.mark.parametrize(
    ("lang", "shown"),
    [("vi", "Cái Bè → cửa khẩu Hữu Nghị"), ("en", "Cái Bè → Hữu Nghị border gate"), ("zh", "Cái Bè → 友谊关口岸")],
)
def test_a_border_gate_is_named_in_the_readers_words(lang: str, shown: str) -> None:
    for typed in ("Cái Bè → Hữu Nghị border gate", "Cái Bè → cửa khẩu Hữu Nghị"):
        assert i18n.place_name(typed, lang) == shown
    assert i18n.place_name("Móng Cái, Quảng Ninh", lang) == "Móng Cái, Quảng Ninh"  # the town, not the gate


def test_times_show_the_places_zone() -> None:
    moment = dt.datetime(2026, 6, 4, 13, 0, tzinfo=dt.UTC)
    assert i18n.format_time(moment, "en", "VN") == "04 Jun 2026 20:00 UTC+7"
    assert i18n.format_time(moment, "zh", "VN") == "2026年6月4日 20:00 UTC+7"
    assert i18n.format_time(moment, "vi", "CN") == "21:00 04/06/2026 UTC+8"
    assert i18n.format_time(moment, "en") == "04 Jun 2026 13:00 UTC"  # no place: the reader's zone
    assert i18n.format_time(moment, "vi") == "20:00 04/06/2026 UTC+7"


def test_the_trace_page_names_the_gate_and_the_stage_time_in_each_language(world: World) -> None:
    lot = make_lot(world)
    stage = {"stage": "shipping", "occurred_at": "2026-06-24T20:00:00+07:00", "country": "VN"}
    answer = world.client.post(
        f"/api/v1/lots/{lot.id}/stages", headers=world.packer, json={**stage, "place": "Cái Bè → Hữu Nghị border gate"}
    )
    assert answer.status_code == 201, answer.text
    for lang, gate, when in (
        ("vi", "cửa khẩu Hữu Nghị", "20:00 24/06/2026 UTC+7"),
        ("zh", "友谊关口岸", "2026年6月24日 20:00 UTC+7"),
        ("en", "Hữu Nghị border gate", "24 Jun 2026 20:00 UTC+7"),
    ):
        text = html.unescape(world.client.get(f"{path_of(lot.scan_url)}&lang={lang}").text)
        assert gate in text
        assert when in text
        if lang != "en":
            assert "border gate" not in text


def test_a_short_duration_reads_in_minutes_and_vietnamese_uses_a_decimal_comma() -> None:
    from detection.engine.rules import duration

    assert duration(0.01) == ("1 min", "1 phút")  # never "0.0 giờ"
    assert duration(0.25) == ("15 min", "15 phút")
    assert duration(1.5) == ("1.5 h", "1,5 giờ")
