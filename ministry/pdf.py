"""The ministry's report as a PDF (reportlab), with charts drawn by reportlab.graphics.

The font is the labels' Noto Sans CJK (it covers Vietnamese and Chinese), subset to Latin and Vietnamese letters
plus the Chinese characters the report's own words use (phrases, country names, dates), and turned from CFF into
TrueType outlines once per process, because reportlab embeds only TrueType fonts. Converting all ~65,000 glyphs
would be slow, so a Chinese name typed into the data (a packing house's, say) outside that set shows as a blank box.
The report holds aggregates only (days, types, lots, months × products), never one row per scan or alert.
"""

from __future__ import annotations

import datetime as dt
import io
from functools import lru_cache

from fontTools import subset
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont, newTable
from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont as ReportlabFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ministry.phrases import MESSAGES, label, t
from ministry.rollup import VIETNAM
from ministry.service import Report
from printing.fonts import _face_number, _font_path
from resolver.i18n import COUNTRY_NAMES, country_name, format_date, format_number

FONT = "TemReportSans"
_CHARACTERS = (
    set(range(0x20, 0x7F))
    | set(range(0xA0, 0x250))  # Latin-1 and Latin Extended-A/B: đ, ơ, ư ...
    | set(range(0x1EA0, 0x1F00))  # Vietnamese precomposed letters: ạ, ả, ấ ...
    | set(range(0x2010, 0x2027))  # dashes, quotes, bullet, ellipsis
    | {0x00D7, 0x2190, 0x2192, 0x2212}
    | set(range(0x3000, 0x3020))  # CJK punctuation: 、。「」
    | set(range(0xFF01, 0xFF5F))  # full-width forms: ，：（）
)
_MAX_CHART_BARS = 12


def _report_characters() -> set[int]:
    """The code points above plus every character of the report's words in any language (its Chinese)."""
    words = [text for phrase in (*MESSAGES.values(), *COUNTRY_NAMES.values()) for text in phrase.values()]
    return _CHARACTERS | {ord(c) for c in "".join(words) + "年月日"}


@lru_cache(maxsize=1)
def _font_bytes() -> bytes:
    font = TTFont(_font_path(), fontNumber=_face_number())
    options = subset.Options()
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.layout_features = []
    options.hinting = False
    options.desubroutinize = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=_report_characters())
    subsetter.subset(font)
    glyphs = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = font.getGlyphOrder()
    glyf.glyphs = {}
    for name in glyf.glyphOrder:
        pen = TTGlyphPen(glyphs)
        glyphs[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))  # cubic CFF curves to quadratic ones
        glyf[name] = pen.glyph()
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    del font["CFF "]
    if "VORG" in font:
        del font["VORG"]
    maxp = font["maxp"]
    maxp.tableVersion = 0x00010000
    for field in (
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
        "maxComponentElements",
    ):
        setattr(maxp, field, 0)
    maxp.maxZones = 1
    font["head"].indexToLocFormat = 0
    font["head"].glyphDataFormat = 0
    font["post"].formatType = 3.0
    font.sfntVersion = "\x00\x01\x00\x00"
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def _register_font() -> None:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(ReportlabFont(FONT, io.BytesIO(_font_bytes())))


def _styles() -> tuple[ParagraphStyle, ParagraphStyle, ParagraphStyle]:
    body = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12)
    heading = ParagraphStyle("heading", parent=body, fontSize=12, leading=16, spaceBefore=8, spaceAfter=4)
    title = ParagraphStyle("title", parent=body, fontSize=16, leading=20, spaceAfter=4)
    return title, heading, body


def _table(header: list[str], rows: list[list[str]], numeric_from: int) -> Table:
    table = Table([header, *rows], repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), FONT),
                ("FONTSIZE", (0, 0), (-1, -1), 8),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#17324d")),
                ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
                ("ALIGN", (numeric_from, 0), (-1, -1), "RIGHT"),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#cccccc")),
            ]
        )
    )
    return table


def _day_chart(report: Report) -> Drawing:
    drawing = Drawing(170 * mm, 60 * mm)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 12 * mm, 10 * mm, 150 * mm, 45 * mm
    chart.data = [[n for _day, n in report.per_day]]
    every = max(1, len(report.per_day) // 10)
    chart.categoryAxis.categoryNames = [
        day.strftime("%d/%m") if i % every == 0 else "" for i, (day, _n) in enumerate(report.per_day)
    ]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 6
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.bars[0].fillColor = colors.HexColor("#b86e00")
    chart.bars[0].strokeColor = None
    drawing.add(chart)
    return drawing


def _count_chart(rows: list[tuple[str, int]]) -> Drawing:
    shown = rows[:_MAX_CHART_BARS]
    drawing = Drawing(170 * mm, (8 + 6 * len(shown)) * mm)
    chart = HorizontalBarChart()
    chart.x, chart.y = 45 * mm, 4 * mm
    chart.width, chart.height = 115 * mm, 6 * len(shown) * mm
    chart.data = [[n for _name, n in reversed(shown)]]
    chart.categoryAxis.categoryNames = [name[:30] for name, _n in reversed(shown)]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.bars[0].fillColor = colors.HexColor("#17324d")
    drawing.add(chart)
    return drawing


def render_report(report: Report, lang: str) -> bytes:
    _register_font()
    title, heading, body = _styles()
    where = report.where

    def n(value: int) -> str:
        return format_number(value, lang)

    def named(dimension: str) -> list[tuple[str, int]]:
        rows = report.by[dimension]
        if dimension == "country":
            return [(country_name(c, lang) or c or t("unknown", lang), k) for c, k in rows]
        if dimension in ("severity", "status", "type"):
            prefix = {"severity": "sev", "status": "st", "type": "at"}[dimension]
            return [(label(prefix, v, lang), k) for v, k in rows]
        return [(v or t("unknown", lang), k) for v, k in rows]

    story: list[Flowable] = [
        Paragraph(f"{t('title', lang)} · {t('authority', lang)}", title),
        Paragraph(
            t("report_period", lang, since=format_date(where.since, lang), until=format_date(where.until, lang)), body
        ),
        Paragraph(
            t("generated", lang, when=dt.datetime.now(VIETNAM).strftime("%Y-%m-%d %H:%M"))
            + " · "
            + t("days_note", lang),
            body,
        ),
        Paragraph(t("alerts_per_day", lang), heading),
        Paragraph(t("alerts_total", lang, n=n(report.total_alerts)), body),
        _day_chart(report),
    ]
    for dimension, key in (
        ("type", "alerts_by_type"),
        ("severity", "alerts_by_severity"),
        ("status", "alerts_by_status"),
        ("province", "alerts_by_province"),
        ("country", "alerts_by_country"),
        ("packing_house", "alerts_by_packing_house"),
    ):
        rows = named(dimension)
        story.append(Paragraph(t(key, lang), heading))
        if not rows:
            story.append(Paragraph(t("none", lang), body))
            continue
        if dimension == "type":
            story.append(_count_chart(rows))
        story.append(_table([t(dimension, lang), t("alerts", lang)], [[name, n(k)] for name, k in rows], 1))

    story.append(Paragraph(t("top_lots", lang), heading))
    if report.top_lots:
        header = [t(k, lang) for k in ("lot", "packing_house", "alerts", "flagged_stamps", "scans", "flagged_scans")]
        lots = [
            [r.lot, r.packing_house, n(r.alerts), n(r.flagged_stamps), n(r.scans), n(r.flagged_scans)]
            for r in report.top_lots
        ]
        story.append(_table(header, lots, 2))
    else:
        story.append(Paragraph(t("none", lang), body))

    story.append(Paragraph(t("stamps", lang), heading))
    if report.stamps:
        header = [
            t(k, lang) for k in ("month", "packing_house", "product", "issued", "activated", "stamps_scanned", "scans")
        ]
        stamps = [
            [
                r.month.strftime("%m/%Y"),
                r.packing_house or t("unknown", lang),
                ((r.product_vi if lang == "vi" else r.product_en) or r.gtin)[:40],
                n(r.issued),
                n(r.activated),
                n(r.stamps_scanned),
                n(r.scans),
            ]
            for r in report.stamps
        ]
        story.append(_table(header, stamps, 3))
    else:
        story.append(Paragraph(t("none", lang), body))
    story.append(Spacer(1, 3 * mm))
    story.append(Paragraph(t("stamps_note", lang), body))

    for key, rows, prefix in (
        ("scans_by_verdict", report.scans_by_verdict, "v"),
        ("scans_by_country", report.scans_by_country, None),
    ):
        story.append(Paragraph(t(key, lang), heading))
        if not rows:
            story.append(Paragraph(t("none", lang), body))
            continue
        names = [
            label(prefix, v, lang) if prefix else (country_name(v, lang) or v or t("unknown", lang)) for v, _k in rows
        ]
        story.append(
            _table(
                [t(key, lang), t("scans", lang)], [[name, n(k)] for name, (_v, k) in zip(names, rows, strict=True)], 1
            )
        )

    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=t("title", lang),
        author=t("authority", lang),
    )
    document.build(story)
    return out.getvalue()
