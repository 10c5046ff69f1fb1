"""Write tests/vectors/pins.json: scratch-off PIN test vectors (deterministic).

Computed here with the standard library only, independently of crypto/pin.py:
pin = first 8 bytes of HMAC-SHA-256(key, "TEMPIN1|{gtin14}|{serial}"), big-endian, mod 10**8.
The key is SHA-256 of the UTF-8 text "TEM1 test vector pin key"; never use it for real stamps.

    python tests/vectors/generate_pins.py
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

KEY = hashlib.sha256(b"TEM1 test vector pin key").digest()
CASES = [
    ("08931234567897", 1),
    ("08931234567897", 2),
    ("08931234567897", 123456789012),
    ("08931234567897", 99999999999999999999),
    ("08938604500010", 1201),
    ("00000000000000", 42),
]


def pin(key: bytes, gtin: str, serial: int) -> str:
    digest = hmac.new(key, f"TEMPIN1|{gtin}|{serial}".encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**8:08d}"


def main() -> None:
    document = {
        "description": "TEM scratch-off PIN vectors: HMAC-SHA-256(key, 'TEMPIN1|gtin14|serial'), first 8 bytes "
        "big-endian mod 10^8, 8 digits",
        "key_hex": KEY.hex(),
        "key_base64": base64.b64encode(KEY).decode(),
        "cases": [
            {"gtin": gtin, "serial": str(serial), "message": f"TEMPIN1|{gtin}|{serial}", "pin": pin(KEY, gtin, serial)}
            for gtin, serial in CASES
        ],
    }
    path = Path(__file__).with_name("pins.json")
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
