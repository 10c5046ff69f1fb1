"""Pure cryptography for TEM stamps: GTINs, the TEM1 URI format, signing, keysets, verification.

No database, web framework or settings imports here: only the standard library and PyNaCl.
"""

from crypto.gtin import GtinError, gs1_check_digit, normalize_gtin
from crypto.kek import (
    KekError,
    generate_kek,
    kek_fingerprint,
    open_private_key,
    parse_kek,
    seal_private_key,
)
from crypto.keyset import (
    KeysetError,
    KeyStatus,
    PublicKey,
    from_jwk,
    keyset_document,
    parse_keyset_document,
    to_jwk,
)
from crypto.signing import StampSigner, generate_seed, new_kid, public_key_from_seed
from crypto.stamp import (
    KID_PATTERN,
    SERIAL_PATTERN,
    SIGNING_DOMAIN,
    ParsedStamp,
    StampFormatError,
    canonical_base,
    format_stamp_uri,
    parse_item_path,
    parse_stamp_path,
    parse_stamp_uri,
    signing_message,
)
from crypto.verify import Verification, VerificationStatus, verify_stamp

__all__ = [
    "KID_PATTERN",
    "SERIAL_PATTERN",
    "SIGNING_DOMAIN",
    "GtinError",
    "KekError",
    "KeyStatus",
    "KeysetError",
    "ParsedStamp",
    "PublicKey",
    "StampFormatError",
    "StampSigner",
    "Verification",
    "VerificationStatus",
    "canonical_base",
    "format_stamp_uri",
    "from_jwk",
    "generate_kek",
    "generate_seed",
    "gs1_check_digit",
    "kek_fingerprint",
    "keyset_document",
    "new_kid",
    "normalize_gtin",
    "open_private_key",
    "parse_item_path",
    "parse_kek",
    "parse_keyset_document",
    "parse_stamp_path",
    "parse_stamp_uri",
    "public_key_from_seed",
    "seal_private_key",
    "signing_message",
    "to_jwk",
    "verify_stamp",
]
