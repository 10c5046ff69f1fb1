"""The instance secret behind scan-link MACs and the IP-hash salt. Never logged, never sent."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from tem.core.settings import Settings


def instance_secret(settings: Settings) -> bytes:
    if settings.secret_key:
        return hashlib.sha256(settings.secret_key.encode()).digest()
    path = settings.home / "instance-secret"
    if not path.exists():
        settings.home.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return bytes.fromhex(path.read_text().strip())


@dataclass(frozen=True, slots=True)
class DerivedKeys:
    scan_link: bytes
    ip_salt: bytes

    @classmethod
    def from_secret(cls, secret: bytes) -> DerivedKeys:
        def derive(person: bytes) -> bytes:
            return hashlib.blake2b(b"", key=secret, person=person, digest_size=32).digest()

        return cls(scan_link=derive(b"tem-scan-link"), ip_salt=derive(b"tem-ip-salt"))
