"""Generate the fixed TEM1 stamp test vectors in this folder.

Regenerate only if the stamp format version changes (SIGNING_DOMAIN "TEM1"). The output is
committed and is a public contract: third-party verifiers test against these files, so an
unexplained change in them is a breaking change.

    .venv/bin/python tests/vectors/generate.py

Everything is deterministic: seeds are SHA-256 of a fixed label and Ed25519 signatures are
deterministic, so running this again must reproduce the files byte for byte.

The seeds in keys.json are PRIVATE KEYS PUBLISHED ON PURPOSE for testing. Never use them,
or anything derived from them, for real stamps.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from crypto import (
    KeyStatus,
    PublicKey,
    StampFormatError,
    canonical_base,
    gs1_check_digit,
    keyset_document,
    parse_stamp_uri,
)

HERE = Path(__file__).resolve().parent
BASE = "https://truyxuat.nongnghiep.vn"
DEMO_BASE = "http://127.0.0.1:8000"
GTIN13 = "893123456789" + str(gs1_check_digit("893123456789"))  # 8931234567897
GTIN14 = GTIN13.zfill(14)
OTHER_GTIN14 = "0893123456788" + str(gs1_check_digit("0893123456788"))
SERIAL = 123456789012

KEYS: list[dict[str, Any]] = [
    {
        "kid": "K1AB",
        "status": "active",
        "not_before": datetime(2025, 1, 1, tzinfo=UTC),
        "not_after": None,
    },
    {
        "kid": "K2RT",
        "status": "retired",
        "not_before": datetime(2024, 6, 1, tzinfo=UTC),
        "not_after": datetime(2025, 1, 1, tzinfo=UTC),
    },
    {
        "kid": "K3RV",
        "status": "revoked",
        "not_before": datetime(2024, 9, 1, tzinfo=UTC),
        "not_after": datetime(2024, 12, 1, tzinfo=UTC),
    },
]


def seed_for(kid: str) -> bytes:
    return hashlib.sha256(f"TEM1 test vector seed {kid}".encode()).digest()


def b32(sig: bytes) -> str:
    return base64.b32encode(sig).decode("ascii").rstrip("=")


def message(kid: str, gtin14: str, serial: int | str) -> str:
    # Written out by hand (not crypto.signing_message) so the vectors check the library.
    return f"TEM1|{kid}|{gtin14}|{serial}"


def sign(signer: str, text: str, xor: dict[str, int] | None = None) -> bytes:
    sig = bytearray(SigningKey(seed_for(signer)).sign(text.encode("utf-8")).signature)
    if xor is not None:
        sig[xor["byte"]] ^= xor["mask"]
    return bytes(sig)


def case(
    name: str,
    description: str,
    *,
    uri_template: str,
    expected: str,
    signer: str,
    signed_message: str,
    xor: dict[str, int] | None = None,
    sig_transform: str | None = None,
    error_mentions: str | None = None,
) -> dict[str, Any]:
    """Build one case. ``uri_template`` contains ``{sig}`` where the base32 signature goes."""
    sig_text = b32(sign(signer, signed_message, xor))
    if sig_transform == "lowercase":
        sig_text = sig_text.lower()
    elif sig_transform == "truncate_to_63_bytes":
        sig_text = b32(sign(signer, signed_message, xor)[:63])
    uri = uri_template.replace("{sig}", sig_text)
    out: dict[str, Any] = {
        "name": name,
        "description": description,
        "uri": uri,
        "expected": expected,
    }
    if expected == "format_error":
        try:
            parse_stamp_uri(uri)
        except StampFormatError as exc:
            # Make sure the intended rule fired, not some other one.
            if error_mentions is None or error_mentions not in str(exc).lower():
                raise AssertionError(f"{name}: unexpected error {exc}") from exc
            out["error_mentions"] = error_mentions
        else:
            raise AssertionError(f"{name}: expected a format error")
        out["message"] = None
        out["parsed"] = None
    else:
        parsed = parse_stamp_uri(uri)
        out["message"] = message(parsed.kid, parsed.gtin, parsed.serial)
        out["parsed"] = {
            "gtin": parsed.gtin,
            "serial": str(parsed.serial),  # a string: 20-digit serials do not fit a JSON double
            "kid": parsed.kid,
            "lot": parsed.lot,
            "extras": [list(pair) for pair in parsed.extras],
        }
    # How the 's' value was produced, so tests can re-derive it from the seeds.
    out["signature_origin"] = {
        "signed_by": signer,
        "signed_message": signed_message,
        "xor": xor,
        "transform": sig_transform,
    }
    return out


def build_cases() -> list[dict[str, Any]]:
    cb = canonical_base(BASE)
    good = message("K1AB", GTIN14, SERIAL)
    stamp = f"{cb}/01/{GTIN14}/21/{SERIAL}?k=K1AB&s={{sig}}"
    return [
        case(
            "valid_basic",
            "A stamp exactly as TEM prints it: canonical base, GTIN-14, 12-digit serial, active key.",
            uri_template=stamp,
            expected="valid",
            signer="K1AB",
            signed_message=good,
        ),
        case(
            "valid_gtin13_in_uri",
            "GTIN-13 in the URI path; the verifier pads it to 14 digits before building the message.",
            uri_template=f"{cb}/01/{GTIN13}/21/{SERIAL}?k=K1AB&s={{sig}}",
            expected="valid",
            signer="K1AB",
            signed_message=good,
        ),
        case(
            "valid_lowercase_scheme_and_host",
            "Same signature as valid_basic: scheme and host are case-insensitive and the base is not signed.",
            uri_template=f"{BASE}/01/{GTIN14}/21/{SERIAL}?k=K1AB&s={{sig}}",
            expected="valid",
            signer="K1AB",
            signed_message=good,
        ),
        case(
            "valid_demo_base_serial_1",
            "Demo resolver base http://127.0.0.1:8000 in canonical form; smallest serial.",
            uri_template=f"{canonical_base(DEMO_BASE)}/01/{GTIN14}/21/1?k=K1AB&s={{sig}}",
            expected="valid",
            signer="K1AB",
            signed_message=message("K1AB", GTIN14, 1),
        ),
        case(
            "valid_base_with_path_max_serial",
            "Base URL with a path prefix (kept as given) and the largest 20-digit serial.",
            uri_template=f"{canonical_base('https://example.vn/dl')}/01/{GTIN14}/21/99999999999999999999"
            "?k=K1AB&s={sig}",
            expected="valid",
            signer="K1AB",
            signed_message=message("K1AB", GTIN14, "99999999999999999999"),
        ),
        case(
            "valid_with_cpv_lot_and_query_extras",
            "Extra GS1 Digital Link elements (AI 22 CPV, AI 10 lot with a percent-encoded '/', "
            "and AI 17 expiry as a query parameter) are returned but NOT covered by the signature.",
            uri_template=f"{cb}/01/{GTIN14}/22/RI6/10/LOT%2F24-07/21/{SERIAL}?17=270131&k=K1AB&s={{sig}}",
            expected="valid",
            signer="K1AB",
            signed_message=good,
        ),
        case(
            "valid_retired_key",
            "Signed by a retired key: retired keys no longer issue stamps but their stamps stay valid.",
            uri_template=f"{cb}/01/{GTIN14}/21/{SERIAL}?k=K2RT&s={{sig}}",
            expected="valid",
            signer="K2RT",
            signed_message=message("K2RT", GTIN14, SERIAL),
        ),
        case(
            "tampered_serial",
            "valid_basic's signature copied onto the next serial.",
            uri_template=f"{cb}/01/{GTIN14}/21/{SERIAL + 1}?k=K1AB&s={{sig}}",
            expected="bad_signature",
            signer="K1AB",
            signed_message=good,
        ),
        case(
            "tampered_gtin",
            "valid_basic's signature copied onto another (valid) GTIN.",
            uri_template=f"{cb}/01/{OTHER_GTIN14}/21/{SERIAL}?k=K1AB&s={{sig}}",
            expected="bad_signature",
            signer="K1AB",
            signed_message=good,
        ),
        case(
            "tampered_signature",
            "valid_basic with one bit of the signature flipped (byte 10, mask 0x01).",
            uri_template=stamp,
            expected="bad_signature",
            signer="K1AB",
            signed_message=good,
            xor={"byte": 10, "mask": 1},
        ),
        case(
            "unknown_key",
            "Key id ZZ99 is not in the keyset, so the signature cannot be checked.",
            uri_template=f"{cb}/01/{GTIN14}/21/{SERIAL}?k=ZZ99&s={{sig}}",
            expected="unknown_key",
            signer="K1AB",
            signed_message=message("ZZ99", GTIN14, SERIAL),
        ),
        case(
            "kid_swapped_to_existing_key",
            "valid_basic's signature relabelled with another key id that exists (K2RT).",
            uri_template=f"{cb}/01/{GTIN14}/21/{SERIAL}?k=K2RT&s={{sig}}",
            expected="bad_signature",
            signer="K1AB",
            signed_message=good,
        ),
        case(
            "revoked_key",
            "A genuine signature by a revoked key: key_revoked, do not trust.",
            uri_template=f"{cb}/01/{GTIN14}/21/{SERIAL}?k=K3RV&s={{sig}}",
            expected="key_revoked",
            signer="K3RV",
            signed_message=message("K3RV", GTIN14, SERIAL),
        ),
        case(
            "revoked_key_forged_signature",
            "Claims the revoked key K3RV but was signed by K1AB: the signature is checked first.",
            uri_template=f"{cb}/01/{GTIN14}/21/{SERIAL}?k=K3RV&s={{sig}}",
            expected="bad_signature",
            signer="K1AB",
            signed_message=message("K3RV", GTIN14, SERIAL),
        ),
        case(
            "serial_leading_zero",
            "Serial written with a leading zero; serials have exactly one spelling.",
            uri_template=f"{cb}/01/{GTIN14}/21/0{SERIAL}?k=K1AB&s={{sig}}",
            expected="format_error",
            signer="K1AB",
            signed_message=good,
            error_mentions="start with 0",
        ),
        case(
            "serial_too_long",
            "21-digit serial; GS1 AI 21 allows at most 20 characters.",
            uri_template=f"{cb}/01/{GTIN14}/21/123456789012345678901?k=K1AB&s={{sig}}",
            expected="format_error",
            signer="K1AB",
            signed_message=message("K1AB", GTIN14, "123456789012345678901"),
            error_mentions="at most 20 digits",
        ),
        case(
            "gtin_check_digit_wrong",
            "Last GTIN digit changed from 7 to 3.",
            uri_template=f"{cb}/01/{GTIN14[:-1]}3/21/{SERIAL}?k=K1AB&s={{sig}}",
            expected="format_error",
            signer="K1AB",
            signed_message=good,
            error_mentions="check digit is wrong: expected 7, got 3",
        ),
        case(
            "signature_lowercase",
            "Signature in lower-case base32; only upper case is accepted.",
            uri_template=stamp,
            expected="format_error",
            signer="K1AB",
            signed_message=good,
            sig_transform="lowercase",
            error_mentions="base32",
        ),
        case(
            "signature_63_bytes",
            "Signature truncated to 63 bytes (101 base32 characters).",
            uri_template=stamp,
            expected="format_error",
            signer="K1AB",
            signed_message=good,
            sig_transform="truncate_to_63_bytes",
            error_mentions="64 bytes",
        ),
        case(
            "duplicate_key_id_parameter",
            "Two 'k' parameters: ambiguous, rejected.",
            uri_template=f"{cb}/01/{GTIN14}/21/{SERIAL}?k=K1AB&k=K2RT&s={{sig}}",
            expected="format_error",
            signer="K1AB",
            signed_message=good,
            error_mentions="more than one 'k'",
        ),
        case(
            "missing_key_id_parameter",
            "No 'k' parameter.",
            uri_template=f"{cb}/01/{GTIN14}/21/{SERIAL}?s={{sig}}",
            expected="format_error",
            signer="K1AB",
            signed_message=good,
            error_mentions="no 'k'",
        ),
        case(
            "key_id_lowercase",
            "Key ids are upper-case A-Z and 0-9 only.",
            uri_template=f"{cb}/01/{GTIN14}/21/{SERIAL}?k=k1ab&s={{sig}}",
            expected="format_error",
            signer="K1AB",
            signed_message=good,
            error_mentions="key id",
        ),
    ]


def dump(path: Path, doc: Any) -> None:
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> None:
    public_keys = [
        PublicKey(
            kid=k["kid"],
            public_key=bytes(SigningKey(seed_for(k["kid"])).verify_key),
            status=KeyStatus(k["status"]),
            not_before=k["not_before"],
            not_after=k["not_after"],
        )
        for k in KEYS
    ]
    keys_doc = {
        "warning": "TEST-ONLY private keys, published on purpose. Never use them for real stamps.",
        "seed_derivation": "seed = SHA-256(UTF-8 'TEM1 test vector seed ' + kid)",
        "keys": [
            {
                "kid": k["kid"],
                "status": k["status"],
                "seed_hex": seed_for(k["kid"]).hex(),
                "public_key_hex": pk.public_key.hex(),
            }
            for k, pk in zip(KEYS, public_keys, strict=True)
        ],
    }
    cases_doc = {
        "format": "TEM1",
        "base": BASE,
        "canonical_base": canonical_base(BASE),
        "keyset": "keyset.json",
        "cases": build_cases(),
    }
    dump(HERE / "keys.json", keys_doc)
    dump(HERE / "keyset.json", keyset_document(public_keys))
    dump(HERE / "cases.json", cases_doc)


if __name__ == "__main__":
    main()
