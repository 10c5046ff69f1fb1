"""What must hold before stamps are activated on a lot: the farming diary of each of its growing areas shows no
spray whose pre-harvest interval (PHI) is still running at the lot's earliest harvest and no active ingredient
banned in Vietnam in the 12 months before it, and an export lot has its phytosanitary certificate.

The banned ingredients and default PHIs come from a versioned TOML file shipped with Tem (`data/pesticides.toml`),
replaceable with `TEM_PESTICIDE_FILE`. A refusal is a 409 that names the diary entry, in vi, en or zh.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from issuer.models import DiaryEntry, DiaryKind, DocumentKind, GrowingArea, Lot, LotDocument, LotFile, LotGrowingArea
from tem.core.errors import Conflict
from tem.core.settings import Settings

SHIPPED = Path(__file__).parent / "data" / "pesticides.toml"
BANNED_WINDOW = dt.timedelta(days=365)
HOME_MARKET = "VN"


def normalise(name: str) -> str:
    """An ingredient's name as matched: lower case, hyphens and underscores as spaces, spaces collapsed."""
    return " ".join(re.sub(r"[-_‐‑–]", " ", name).lower().split())


@dataclass(frozen=True, slots=True)
class Banned:
    name: str
    source: str


@dataclass(frozen=True, slots=True)
class Phi:
    name: str
    days: int
    note: str


@dataclass(frozen=True, slots=True)
class Pesticides:
    version: str
    banned: dict[str, Banned] = field(default_factory=dict)  # by normalised name or synonym
    phi: dict[str, Phi] = field(default_factory=dict)

    def banned_in(self, ingredients: Iterable[str]) -> tuple[str, Banned] | None:
        """The first banned ingredient of a list, as written, with its entry."""
        for written in ingredients:
            hit = self.banned.get(normalise(written))
            if hit is not None:
                return written, hit
        return None

    def default_phi(self, ingredients: Iterable[str]) -> int | None:
        """The longest default PHI of the ingredients, or None when the file knows none of them."""
        days = [p.days for p in (self.phi.get(normalise(i)) for i in ingredients) if p is not None]
        return max(days) if days else None


def _names(row: dict[str, object]) -> list[str]:
    synonyms = row.get("synonyms", [])
    assert isinstance(synonyms, list)
    return [str(row["name"]), *(str(s) for s in synonyms)]


@lru_cache(maxsize=8)
def load(path: Path | None = None) -> Pesticides:
    """Reads and checks a pesticide file (cached per path; a replaced file needs a restart)."""
    raw = tomllib.loads((path or SHIPPED).read_text(encoding="utf-8"))
    version = raw.get("version")
    if not isinstance(version, str) or not version:
        raise ValueError(f"{path or SHIPPED}: a pesticide file needs a version")
    banned: dict[str, Banned] = {}
    for row in raw.get("banned", []):
        if not row.get("source"):
            raise ValueError(f"{path or SHIPPED}: banned {row.get('name')!r} needs its legal source")
        entry = Banned(str(row["name"]), str(row["source"]))
        banned.update((normalise(n), entry) for n in _names(row))
    phi: dict[str, Phi] = {}
    for row in raw.get("phi", []):
        days = row["days"]
        if not isinstance(days, int) or days < 0:
            raise ValueError(f"{path or SHIPPED}: PHI of {row.get('name')!r} must be a whole number of days")
        entry_phi = Phi(str(row["name"]), days, str(row.get("note", "")))
        phi.update((normalise(n), entry_phi) for n in _names(row))
    return Pesticides(version, banned, phi)


@dataclass(frozen=True, slots=True)
class GateRules:
    """The settings the gates need, as plain values (the composition root builds them from `Settings`)."""

    pesticide_file: Path | None = None
    require_phyto: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> GateRules:
        return cls(settings.pesticide_file, settings.require_phyto)

    def pesticides(self) -> Pesticides:
        return load(self.pesticide_file)


MESSAGES: dict[str, dict[str, str]] = {
    "phi_not_passed": {
        "en": "growing area {area}: diary entry {entry} ({date}, {product}) is a spray whose {phi}-day pre-harvest "
        "interval has not passed by the harvest on {harvest}; the first safe harvest date is {safe}",
        "vi": "vùng trồng {area}: mục nhật ký {entry} ({date}, {product}) là lần phun thuốc có thời gian cách ly "
        "{phi} ngày, chưa hết vào ngày thu hoạch {harvest}; ngày thu hoạch an toàn sớm nhất là {safe}",
        "zh": "种植区 {area}：种植日志条目 {entry}（{date}，{product}）为喷药，其 {phi} 天安全间隔期至采收日 {harvest} "
        "尚未届满；最早安全采收日期为 {safe}",
    },
    "banned_ingredient": {
        "en": "growing area {area}: diary entry {entry} ({date}, {product}) applied {ingredient}, which is banned "
        "in Vietnam ({source}), within the 12 months before the harvest on {harvest}",
        "vi": "vùng trồng {area}: mục nhật ký {entry} ({date}, {product}) đã dùng {ingredient}, hoạt chất bị cấm "
        "tại Việt Nam ({source}), trong 12 tháng trước ngày thu hoạch {harvest}",
        "zh": "种植区 {area}：种植日志条目 {entry}（{date}，{product}）在采收日 {harvest} 前 12 个月内使用了 "
        "{ingredient}，该有效成分在越南禁用（{source}）",
    },
    "phyto_missing": {
        "en": "lot {lot} is for export ({markets}) and has no phytosanitary certificate attached; attach one "
        "before activating its stamps",
        "vi": "lô {lot} xuất khẩu ({markets}) nhưng chưa có giấy chứng nhận kiểm dịch thực vật; hãy đính kèm "
        "trước khi kích hoạt tem",
        "zh": "批次 {lot} 为出口批次（{markets}），尚未附植物检疫证书；请先附上证书再激活标签",
    },
}


class GateRefused(Conflict):
    """A 409 that says which rule refused, with the words in vi, en and zh."""

    def __init__(self, code: str, field: str, **values: object) -> None:
        self.code = code
        self.words = MESSAGES[code]
        self.values = values
        super().__init__(self.words["en"].format(**values), field=field)

    def localised(self, lang: str) -> str:
        return self.words.get(lang, self.words["en"]).format(**self.values)


def harvest_day(lot: Lot) -> dt.date | None:
    """The lot's earliest harvest date."""
    days = [dt.date.fromisoformat(d) for d in lot.harvest_dates or []]
    return min(days) if days else None


def effective(entries: Sequence[DiaryEntry]) -> list[DiaryEntry]:
    """The entries that stand: those no later entry corrects."""
    corrected = {e.corrects for e in entries if e.corrects is not None}
    return [e for e in entries if e.id not in corrected]


def phi_of(entry: DiaryEntry, pesticides: Pesticides) -> int | None:
    """A spray's PHI: as recorded, else the longest default of its ingredients."""
    if entry.kind != DiaryKind.SPRAY:
        return None
    if entry.phi_days is not None:
        return entry.phi_days
    return pesticides.default_phi(entry.active_ingredients or [])


def safe_from(entry: DiaryEntry, pesticides: Pesticides) -> dt.date | None:
    """The first date a harvest may follow this spray, or None when it sets no interval."""
    phi = phi_of(entry, pesticides)
    return None if phi is None else entry.date + dt.timedelta(days=phi)


def _entries(session: Session, lot_id: int) -> list[tuple[DiaryEntry, str]]:
    query = (
        select(DiaryEntry, GrowingArea.code)
        .join(GrowingArea, GrowingArea.id == DiaryEntry.growing_area_id)
        .join(LotGrowingArea, LotGrowingArea.growing_area_id == DiaryEntry.growing_area_id)
        .where(LotGrowingArea.lot_id == lot_id)
        .order_by(DiaryEntry.date, DiaryEntry.id)
    )
    return [(entry, code) for entry, code in session.execute(query)]


def _has_phyto(session: Session, lot_id: int) -> bool:
    kind = DocumentKind.PHYTOSANITARY.value
    document = select(LotDocument.id).where(LotDocument.lot_id == lot_id, LotDocument.kind == kind).limit(1)
    upload = select(LotFile.id).where(LotFile.lot_id == lot_id, LotFile.kind == kind).limit(1)
    return session.scalar(document) is not None or session.scalar(upload) is not None


def check(session: Session, lot: Lot, rules: GateRules) -> None:
    """Refuses (GateRefused, 409) activation on a lot its diary or its papers do not allow yet."""
    harvest = harvest_day(lot)
    if harvest is not None:
        pesticides = rules.pesticides()
        rows = _entries(session, lot.id)
        standing = {e.id for e in effective([e for e, _ in rows])}
        for entry, area in rows:
            if entry.id not in standing or entry.date > harvest:
                continue
            named = {"area": area, "entry": entry.id, "date": entry.date.isoformat(), "product": entry.product or "-"}
            hit = pesticides.banned_in(entry.active_ingredients or [])
            if hit is not None and entry.date >= harvest - BANNED_WINDOW:
                written, banned = hit
                raise GateRefused(
                    "banned_ingredient",
                    "lot",
                    **named,
                    ingredient=written,
                    source=banned.source,
                    harvest=harvest.isoformat(),
                )
            safe = safe_from(entry, pesticides)
            if safe is not None and safe > harvest:
                raise GateRefused(
                    "phi_not_passed",
                    "lot",
                    **named,
                    phi=phi_of(entry, pesticides),
                    harvest=harvest.isoformat(),
                    safe=safe.isoformat(),
                )
    markets = [m for m in lot.destination_markets or [] if m != HOME_MARKET]
    if rules.require_phyto and markets and not _has_phyto(session, lot.id):
        raise GateRefused("phyto_missing", "lot", lot=lot.code, markets=", ".join(markets))


@dataclass(frozen=True, slots=True)
class DiarySummary:
    """What a consumer or inspector sees of one area's diary for one lot."""

    area: str
    sprays: int
    last_spray: dt.date | None
    intervals_respected: bool
    banned_found: bool


def summarise(
    area: str, entries: Sequence[DiaryEntry], harvest: dt.date | None, pesticides: Pesticides
) -> DiarySummary:
    """The season's sprays (the 12 months up to the lot's harvest), the last one, and whether all is well."""
    standing = effective(entries)
    if harvest is not None:
        season = [e for e in standing if harvest - BANNED_WINDOW <= e.date <= harvest]
    else:
        season = list(standing)
    sprays = [e for e in season if e.kind == DiaryKind.SPRAY]
    respected = harvest is None or all((s := safe_from(e, pesticides)) is None or s <= harvest for e in sprays)
    banned = any(pesticides.banned_in(e.active_ingredients or []) is not None for e in season)
    return DiarySummary(area, len(sprays), max((e.date for e in sprays), default=None), respected, banned)
