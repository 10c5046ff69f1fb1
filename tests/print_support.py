"""Shared helpers for the printing tests: build jobs, rasterise PDFs, decode every QR code."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator

import pypdfium2 as pdfium
import zxingcpp
from PIL import Image

from crypto import KeyStatus, PublicKey, StampSigner, parse_stamp_uri, verify_stamp
from crypto.pin import PinDeriver
from printing.labels import LotRange, PrintJob
from printing.templates import LabelTemplate, load_template
from templates import LABELS as TEMPLATES

SEED = bytes(range(32))
KID = "K1AB"
BASE = "http://127.0.0.1:8000"
GTIN = "08938604500010"
LOT = "TG-RI6-2026-001"  # a box label's lot: its GS1-128 carries (10)
PIN_KEY = b"\x07" * 32
FIELDS = {
    "product_name_vi": "Sầu riêng Ri6",
    "product_name_en": "Ri6 durian",
    "product_name_zh": "Ri6 榴莲",
    "packing_house_code": "VN-TGPH-0001",
    "packing_house_name": "Cơ sở đóng gói A",
}


def template(name: str) -> LabelTemplate:
    return load_template(TEMPLATES, name)


def signer() -> StampSigner:
    return StampSigner(KID, SEED)


def keyset() -> dict[str, PublicKey]:
    return {KID: PublicKey(KID, signer().public_key, KeyStatus.ACTIVE, None, None)}


def job(first: int, last: int, lots: tuple[LotRange, ...] = (), *, pin: bool = True, base: str = BASE) -> PrintJob:
    s = signer()
    return PrintJob(
        order_id=42,
        gtin=GTIN,
        first_serial=first,
        last_serial=last,
        stamp_uris=lambda: s.uris(base, GTIN, first, last),
        uri_for=lambda serial: s.uri(base, GTIN, serial),
        fields=FIELDS,
        lots=lots,
        pin=PinDeriver(PIN_KEY, GTIN) if pin else None,
        created_at=dt.datetime(2026, 7, 1, 8, 0, tzinfo=dt.UTC),
    )


def render(data: bytes, dpi: int) -> Iterator[Image.Image]:
    pdf = pdfium.PdfDocument(data)
    try:
        for index in range(len(pdf)):
            page = pdf[index]
            yield page.render(scale=dpi / 72, grayscale=True).to_pil()
            page.close()
    finally:
        pdf.close()


def decode_all(image: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


def decode_gs1_128(image: Image.Image) -> list[tuple[str, str, bytes]]:
    """Every GS1-128 on the page: symbology identifier (``]C1``), text with the AIs in brackets, and the
    bytes a scanner sends (FNC1 separators as GS, 0x1D)."""
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.Code128)
    assert all(r.content_type == zxingcpp.ContentType.GS1 for r in found)
    return [(r.symbology_identifier, r.text, r.bytes) for r in found]


def expected_uris(first: int, last: int, base: str = BASE) -> list[str]:
    return list(signer().uris(base, GTIN, first, last))


def assert_genuine(uris: list[str], keys: dict[str, PublicKey]) -> None:
    for uri in uris:
        result = verify_stamp(parse_stamp_uri(uri), keys)
        assert result, (uri, result.reason)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
