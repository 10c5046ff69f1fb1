"""The durian pilot demo dataset. Seeding twice reuses what the first run made."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crypto import gs1_check_digit
from detection.engine.model import Role
from identity.models import ApiToken, OrgKind
from identity.principal import Principal, operator
from issuer import keys as key_service
from issuer import repository, schemas, service
from issuer.activation_gates import GateRules
from issuer.keys import SignerCache
from issuer.models import DiaryKind, DocumentKind, SerialRange
from tem.core.settings import Settings
from tem.core.time import utcnow

MINISTRY_CODE = "BNNMT"
AGENCY_CODE = "QLTT-TG"
PACKING_HOUSE_CODE = "VN-TGPH-0001"
GTIN_BODY = "0893860450001"  # GS1 Vietnam prefix 893; the check digit is computed
LOT_CODE = "TG-RI6-2026-001"
DISTRIBUTOR_CODE = "CN-NNFI-01"
PACKING_HOUSE_GLN = "8936000000011"  # a GLN under Vietnam's GS1 prefix 893, for the demo only
DEMO_STAMPS = 100
DEMO_TOKEN_PREFIX = "demo "  # noqa: S105  # a token name prefix, not a secret


def demo_gtin() -> str:
    return GTIN_BODY + str(gs1_check_digit(GTIN_BODY))


def _org(
    session: Session, settings: Settings, kind: OrgKind, name: str, code: str, province: str, gln: str | None = None
) -> int:
    existing = repository.organisation_by_code(session, code)
    if existing is not None:
        return existing.id
    data = schemas.OrganisationCreate(kind=kind, name=name, code=code, province=province, gln=gln)
    return service.create_organisation(session, settings, operator("cli:demo"), data).id


def _packer(org_id: int) -> Principal:
    return Principal(None, org_id, PACKING_HOUSE_CODE, Role.PACKER, "cli:demo")


def seed(session: Session, settings: Settings) -> dict[str, Any]:
    admin = operator("cli:demo")
    if not any(k.status.value == "active" for k in key_service.list_keys(session)):
        key_service.generate(session, key_service.load_kek(settings), admin)

    _org(session, settings, OrgKind.MINISTRY, "Bộ Nông nghiệp và Môi trường", MINISTRY_CODE, "Hà Nội")
    _org(
        session,
        settings,
        OrgKind.INSPECTION_AGENCY,
        "Quản lý thị trường Tiền Giang",
        AGENCY_CODE,
        "Tiền Giang",
    )
    ph_id = _org(
        session,
        settings,
        OrgKind.PACKING_HOUSE,
        "Cơ sở đóng gói sầu riêng Cái Bè",
        PACKING_HOUSE_CODE,
        "Tiền Giang",
        gln=PACKING_HOUSE_GLN,
    )
    # The importer in Nanning, one of the lot's destination cities, that the demo lot is shipped to.
    _org(
        session,
        settings,
        OrgKind.DISTRIBUTOR,
        "南宁果品进口有限公司 (Nanning Fruit Import Co.)",
        DISTRIBUTOR_CODE,
        "Guangxi, CN",
    )
    packer = _packer(ph_id)
    gtin = demo_gtin()

    if repository.product_by_gtin(session, gtin, ph_id) is None:
        service.create_product(
            session,
            packer,
            schemas.ProductCreate(
                gtin=gtin,
                name_vi="Sầu riêng Ri6",
                name_en="Ri6 durian",
                name_zh="Ri6 榴莲",
                variety="Ri6",
                shelf_life_days=21,
            ),
        )
    areas = {
        "VN-TGOR-0123": (10.3976, 106.0694, 12.5),  # Cai Lậy
        "VN-TGOR-0456": (10.3405, 105.9436, 8.2),  # Cái Bè
    }
    for code, (lat, lon, hectares) in areas.items():
        if not repository.growing_areas_by_code(session, ph_id, [code]):
            service.create_growing_area(
                session,
                settings,
                packer,
                schemas.GrowingAreaCreate(
                    code=code,
                    province="Tiền Giang",
                    crop="durian",
                    variety="Ri6",
                    area_hectares=hectares,
                    latitude=lat,
                    longitude=lon,
                ),
            )
    if not repository.households(session, ph_id):
        for name, area in (
            ("Hộ Nguyễn Văn An", "VN-TGOR-0123"),
            ("Hộ Trần Thị Bích", "VN-TGOR-0123"),
            ("Hộ Lê Văn Cường", "VN-TGOR-0456"),
        ):
            service.create_household(session, packer, schemas.HouseholdCreate(name=name, growing_area=area))
    household_ids = [h.id for h, _ in repository.households(session, ph_id)]

    lots = repository.lots(session, ph_id, LOT_CODE)
    if lots:
        lot_id = lots[0][0].id
    else:
        lot = service.create_lot(
            session,
            packer,
            schemas.LotCreate(
                code=LOT_CODE,
                gtin=gtin,
                harvest_dates=[dt.date(2026, 6, 2), dt.date(2026, 6, 3)],
                packing_date=dt.date(2026, 6, 4),
                quantity=18_000,
                quantity_unit="kg",
                destination_markets=["CN"],
                border_gates=["Hữu Nghị"],
                destination_places=[
                    schemas.DeclaredPlace(name="Nanning", lat=22.82, lon=108.32, country="CN"),
                    schemas.DeclaredPlace(name="Guangzhou", lat=23.13, lon=113.26, country="CN"),
                ],
                growing_areas=list(areas),
                households=household_ids,
                show_household_names=True,
            ),
        )
        lot_id = lot.id
        service.add_document(
            session,
            packer,
            lot_id,
            schemas.DocumentCreate(
                kind=DocumentKind.PHYTOSANITARY,
                number="TG-KDTV-2026-004512",
                issued_on=dt.date(2026, 6, 4),
                issuer="Chi cục Kiểm dịch thực vật vùng IX",
            ),
        )
        service.add_document(
            session,
            packer,
            lot_id,
            schemas.DocumentCreate(
                kind=DocumentKind.LAB_RESULT,
                number="VKN-2026-1187",
                issued_on=dt.date(2026, 6, 3),
                issuer="Viện Kiểm nghiệm an toàn vệ sinh thực phẩm",
                summary="Cadmium and 32 pesticides: not detected",
            ),
        )
        # The farming diary of the first area: the trace page sums it up, and activation checks its intervals.
        for day, kind, product, ingredients, dose, unit in (
            (dt.date(2026, 3, 20), DiaryKind.FERTILISER, "NPK 20-20-15", [], 1.5, "kg/tree"),
            (dt.date(2026, 4, 10), DiaryKind.SPRAY, "Ridomil Gold 68WG", ["metalaxyl-M", "mancozeb"], 2.5, "g/l"),
            (dt.date(2026, 5, 12), DiaryKind.SPRAY, "Abatin 5.4EC", ["abamectin"], 0.5, "ml/l"),
        ):
            service.add_diary_entry(
                session,
                packer,
                next(iter(areas)),
                schemas.DiaryEntryCreate(
                    date=day, kind=kind, product=product, active_ingredients=ingredients, dose=dose, unit=unit
                ),
            )
        ict = dt.timezone(dt.timedelta(hours=7))
        for stage, when, place, country in (
            ("harvest", dt.datetime(2026, 6, 2, 6, 0, tzinfo=ict), "Cai Lậy, Tiền Giang", "VN"),
            ("receiving", dt.datetime(2026, 6, 3, 15, 0, tzinfo=ict), "Cái Bè, Tiền Giang", "VN"),
            ("packing", dt.datetime(2026, 6, 4, 9, 0, tzinfo=ict), "Cái Bè, Tiền Giang", "VN"),
            ("shipping", dt.datetime(2026, 6, 4, 20, 0, tzinfo=ict), "Cái Bè → Nanning, via Hữu Nghị", "VN"),
        ):
            service.add_stage(
                session,
                packer,
                lot_id,
                schemas.StageCreate(
                    stage=stage,
                    occurred_at=when,
                    place=place,
                    country=country,
                    consignee=DISTRIBUTOR_CODE if stage == "shipping" else None,
                ),
            )

    keys = service.Keys(settings, SignerCache())
    order = _demo_order(session, keys, packer, gtin, ph_id)
    if not repository.activations_overlapping(session, gtin, order.first_serial or 0, order.last_serial or 0):
        service.activate(
            session,
            packer,
            schemas.ActivationCreate(
                gtin=gtin, first_serial=order.first_serial, last_serial=order.last_serial, lot=LOT_CODE
            ),
            GateRules.from_settings(settings),
        )
    stamps = service.order_stamps(session, keys, packer, order.id)
    return {
        "base_url": settings.public_base_url.rstrip("/"),
        "packing_house": PACKING_HOUSE_CODE,
        "distributor": DISTRIBUTOR_CODE,
        "gtin": gtin,
        "lot": LOT_CODE,
        "lot_id": lot_id,
        "order_id": order.id,
        "first_serial": stamps.first_serial,
        "last_serial": stamps.last_serial,
        "stamps": list(stamps.uris(settings.public_base_url)),
        "tokens": _fresh_tokens(session, admin),
    }


def _demo_order(session: Session, keys: service.Keys, packer: Principal, gtin: str, ph_id: int) -> schemas.OrderRead:
    issued = session.scalars(
        select(SerialRange).where(SerialRange.organisation_id == ph_id, SerialRange.gtin == gtin)
    ).first()
    if issued is not None:
        return service.get_order(session, packer, issued.order_id)
    order = service.create_order(session, keys, packer, schemas.OrderCreate(gtin=gtin, quantity=DEMO_STAMPS))
    if order.first_serial is None:  # TEM_ORDER_APPROVAL=required: the demo's ministry approves it
        order = service.approve_order(session, keys, operator("cli:demo"), order.id)
    return order


def _fresh_tokens(session: Session, admin: Principal) -> dict[str, str]:
    """Tokens are stored only as hashes, so each run retires the last demo tokens and prints new ones."""
    session.execute(
        update(ApiToken)
        .where(ApiToken.name.startswith(DEMO_TOKEN_PREFIX), ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    tokens = {}
    for role, org in (
        (Role.PACKER, PACKING_HOUSE_CODE),
        (Role.INSPECTOR, AGENCY_CODE),
        (Role.MINISTRY, MINISTRY_CODE),
        (Role.DISTRIBUTOR, DISTRIBUTOR_CODE),
    ):
        data = schemas.TokenCreate(organisation=org, role=role, name=f"{DEMO_TOKEN_PREFIX}{role.value}")
        _row, tokens[role.value] = service.create_token(session, admin, data)
    return tokens
