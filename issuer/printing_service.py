"""Print-ready stamps: who may print an order, which stamps, on which template.

Everything is checked and the download is written to the audit log before the first byte is
produced; the PDF or ZPL itself is generated while it streams (printing/ is pure and keeps
nothing per label), with the signer in memory and no database session open.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy.orm import Session

from crypto.pin import PinDeriver, PinKeyError, parse_pin_key
from detection.engine.model import Role
from identity.principal import Principal
from issuer import audit, print_repository, repository
from issuer.service import Keys
from printing.errors import PrintError
from printing.labels import (
    LotRange,
    LotsRequired,
    PreparedJob,
    PrintJob,
    lots_required_message,
    prepare,
    serials_without_lot,
)
from printing.pdf import pdf_document
from printing.templates import LabelTemplate, TemplateError, list_templates, load_template
from printing.zpl import zpl_document
from tem.core.errors import Conflict, InvalidInput, NotFound, TemError
from tem.core.settings import Settings
from templates import LABELS

Format = Literal["pdf", "zpl"]
MEDIA_TYPES = {"pdf": "application/pdf", "zpl": "application/zpl"}
DEFAULT_TEMPLATES = LABELS  # the shipped ones, installed with Tem; TEM_LABEL_TEMPLATES overrides them


log = logging.getLogger("tem.printing")


class PinKeyUnavailable(TemError):
    status_code = 503


class TemplatesUnavailable(TemError):
    """The label template folder is missing: the server's configuration is wrong, not the request."""

    status_code = 503


def templates_folder(settings: Settings) -> Path:
    return settings.label_templates or DEFAULT_TEMPLATES


def load(settings: Settings, name: str) -> LabelTemplate:
    try:
        return load_template(templates_folder(settings), name)
    except TemplateError as exc:
        raise InvalidInput(str(exc), field="template") from None


def available_templates(settings: Settings) -> list[LabelTemplate]:
    """Every label template of the folder that loads and passes its checks, by name.

    A broken file is left out and logged: printing with it is refused all the same (422, with the reason),
    and one bad file must not hide the good ones from every packing house."""
    folder = templates_folder(settings)
    if not folder.is_dir():
        where = "TEM_LABEL_TEMPLATES names" if settings.label_templates else "the shipped label templates are in"
        raise TemplatesUnavailable(
            f"{where} {folder}, which is not a folder; set TEM_LABEL_TEMPLATES to a folder of label templates (*.toml)"
        )
    found = []
    for name in list_templates(folder):
        try:
            found.append(load_template(folder, name))
        except TemplateError as exc:
            log.warning("label template %s left out of the list: %s", name, exc)
    return found


@dataclass(frozen=True)
class PrintDownload:
    order_id: int
    template: str
    format: Format
    first_serial: int
    last_serial: int
    prepared: PreparedJob

    @property
    def count(self) -> int:
        return self.last_serial - self.first_serial + 1

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    @property
    def filename(self) -> str:
        return f"tem-order-{self.order_id}-{self.first_serial}-{self.last_serial}-{self.template}.{self.format}"

    def chunks(self, on_labels: Callable[[int], None] | None = None) -> Iterator[bytes]:
        if self.format == "pdf":
            return pdf_document(self.prepared, on_labels=on_labels)
        return zpl_document(self.prepared, on_labels=on_labels)


def _pin(settings: Settings, gtin: str) -> Callable[[int], str]:
    if not settings.pin_key:
        raise PinKeyUnavailable(
            "this template has a scratch-off PIN panel but no PIN key is set: set TEM_PIN_KEY "
            "(base64 of 32 random bytes, kept apart from the signing keys)"
        )
    try:
        return PinDeriver(parse_pin_key(settings.pin_key), gtin)
    except PinKeyError as exc:
        raise PinKeyUnavailable(f"TEM_PIN_KEY: {exc}") from None


def prepare_print(
    session: Session, keys: Keys, actor: Principal, order_id: int, template_name: str | None, fmt: Format
) -> PrintDownload:
    """Check everything, record the download in the audit log, and return what streams it."""
    settings = keys.settings
    if actor.role is Role.MINISTRY:
        scope = None
    elif actor.role is Role.PACKER and actor.organisation_id is not None:
        scope = actor.organisation_id
    else:
        raise NotFound(f"no order with id {order_id}")  # inspectors never see orders
    rows = repository.orders(session, scope, order_id)
    if not rows:
        raise NotFound(f"no order with id {order_id}")
    order, gtin, serial_range = rows[0]
    template = load(settings, template_name or order.template)
    if serial_range is None:
        raise Conflict(f"order {order_id} is {order.status}; it has no stamps to print yet")
    first, last = serial_range.first_serial, serial_range.last_serial
    revoked = repository.revocations_overlapping(session, gtin, first, last)
    if revoked:
        spans = ", ".join(
            f"{r.first_serial}–{r.last_serial}" if r.first_serial != r.last_serial else str(r.first_serial)
            for r in revoked
        )
        raise Conflict(
            f"serials {spans} of order {order_id} are revoked ({revoked[0].reason}); revoked stamps are never printed"
        )
    if fmt == "zpl" and template.layout != "roll":
        raise InvalidInput(
            f"ZPL is for roll printers, and template {template.name} is an A4 sheet; download the PDF",
            field="template",
        )
    signer = keys.signer(session, serial_range.kid)
    product = repository.product_by_gtin(session, gtin, None)
    org = print_repository.organisation_by_id(session, order.organisation_id)
    if product is None or org is None:
        raise NotFound(f"no order with id {order_id}")
    lots = tuple(LotRange(a, b, code) for a, b, code in print_repository.lots_overlapping(session, gtin, first, last))
    base = settings.public_base_url
    # A box label's GS1-128 carries (10) lot: only serials activated on a lot can have one (409 before
    # anything else about the job, PIN key included, since activating them is what the caller must do).
    if template.gs1_128 is not None and (missing := serials_without_lot(first, last, lots)):
        raise Conflict(lots_required_message(missing), field="template")
    job = PrintJob(
        order_id=order_id,
        gtin=gtin,
        first_serial=first,
        last_serial=last,
        stamp_uris=lambda: signer.uris(base, gtin, first, last),
        uri_for=lambda serial: signer.uri(base, gtin, serial),
        fields={
            "product_name_vi": product.name_vi,
            "product_name_en": product.name_en,
            "product_name_zh": product.name_zh,
            "packing_house_code": org.code,
            "packing_house_name": org.name,
        },
        lots=lots,
        pin=_pin(settings, gtin) if template.pin is not None else None,
    )
    try:
        prepared = prepare(template, job)
    except LotsRequired as exc:
        raise Conflict(str(exc), field="template") from None
    except PrintError as exc:
        raise InvalidInput(str(exc), field="template") from None
    audit.record(
        session,
        actor,
        "order.printed",
        f"order:{order_id}",
        {"template": template.name, "format": fmt, "first_serial": first, "last_serial": last, "labels": job.count},
        order.organisation_id,
    )
    return PrintDownload(order_id, template.name, fmt, first, last, prepared)
