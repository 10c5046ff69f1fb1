"""Print-ready stamps: PDF for roll and sheet printers, ZPL for roll printers. Streamed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from detection.engine.model import Role
from identity.dependencies import DbSession, PackerOrMinistry, State, requires
from identity.principal import Principal
from issuer import printing_service
from issuer.dependencies import Keys
from issuer.schemas import LabelTemplateRead
from tem.core.bounds import DbId

router = APIRouter(prefix="/api/v1", tags=["printing"])

# Inspectors are let in so that they get the same 404 as another packing house.
Caller = Annotated[Principal, requires(Role.PACKER, Role.MINISTRY, Role.INSPECTOR)]
Template = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        description="Label template from templates/labels/ (default: the order's template, the fruit tag)",
    ),
]


def _stream(download: printing_service.PrintDownload) -> StreamingResponse:
    return StreamingResponse(
        download.chunks(),
        media_type=download.media_type,
        headers={"Content-Disposition": f'attachment; filename="{download.filename}"'},
    )


@router.get(
    "/orders/{order_id}/print.pdf",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/pdf": {}}, "description": "The order's labels, streamed"}},
)
def print_pdf(
    order_id: DbId, session: DbSession, keys: Keys, actor: Caller, template: Template = None
) -> StreamingResponse:
    return _stream(printing_service.prepare_print(session, keys, actor, order_id, template, "pdf"))


@router.get(
    "/orders/{order_id}/print.zpl",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zpl": {}}, "description": "ZPL II, one label a stamp, streamed"}},
)
def print_zpl(
    order_id: DbId, session: DbSession, keys: Keys, actor: Caller, template: Template = None
) -> StreamingResponse:
    return _stream(printing_service.prepare_print(session, keys, actor, order_id, template, "zpl"))


@router.get(
    "/label-templates",
    response_model=list[LabelTemplateRead],
    summary="The label templates orders can be printed with",
    responses={503: {"description": "The label template folder (TEM_LABEL_TEMPLATES) does not exist"}},
)
def label_templates(state: State, actor: PackerOrMinistry) -> list[LabelTemplateRead]:
    """The templates of TEM_LABEL_TEMPLATES (the shipped ones by default), by name; a template file that
    does not load is left out (the server logs why)."""
    return [
        LabelTemplateRead(
            name=template.name,
            description=template.description,
            kind=template.kind,
            layout=template.layout,
            width_mm=template.width_mm,
            height_mm=template.height_mm,
            dpi=template.dpi,
            formats=["pdf", "zpl"] if template.layout == "roll" else ["pdf"],
            pin_panel=template.pin is not None,
        )
        for template in printing_service.available_templates(state.settings)
    ]
