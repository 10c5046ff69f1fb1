"""Signing keys: generated, sealed with the key-encryption key, rotated and revoked.

Services flush, never commit."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto import (
    KekError,
    KeyStatus,
    PublicKey,
    StampSigner,
    generate_seed,
    kek_fingerprint,
    new_kid,
    open_private_key,
    parse_kek,
    public_key_from_seed,
    seal_private_key,
)
from detection.ports import RevocationCategory
from identity.principal import Principal
from issuer import audit
from issuer.models import SigningKey
from tem.core.errors import Conflict, NotFound, TemError
from tem.core.settings import Settings
from tem.core.time import utcnow


class KekUnavailable(TemError):
    status_code = 503


def load_kek(settings: Settings) -> bytes:
    """The key-encryption key from TEM_KEK or TEM_KEK_FILE. Missing or malformed is a clear error."""
    text = settings.kek
    if text is None and settings.kek_file is not None:
        try:
            text = settings.kek_file.read_text().strip()
        except OSError as exc:
            raise KekUnavailable(f"cannot read TEM_KEK_FILE {settings.kek_file}: {exc.strerror}") from None
    if not text:
        raise KekUnavailable(
            "no key-encryption key: set TEM_KEK (base64 of 32 bytes) or TEM_KEK_FILE. "
            "Signing keys are never stored unencrypted."
        )
    try:
        return parse_kek(text)
    except KekError as exc:
        raise KekUnavailable(str(exc)) from None


@dataclass(frozen=True, slots=True)
class KeyInfo:
    kid: str
    status: KeyStatus
    not_before: dt.datetime | None
    not_after: dt.datetime | None
    created_at: dt.datetime
    revoked_reason: str | None

    def as_dict(self) -> dict[str, str | None]:
        def iso(value: dt.datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "kid": self.kid,
            "status": self.status.value,
            "not_before": iso(self.not_before),
            "not_after": iso(self.not_after),
            "created_at": iso(self.created_at),
            "revoked_reason": self.revoked_reason,
        }


def _info(row: SigningKey) -> KeyInfo:
    return KeyInfo(row.kid, KeyStatus(row.status), row.not_before, row.not_after, row.created_at, row.revoked_reason)


def list_keys(session: Session) -> list[KeyInfo]:
    rows = session.scalars(select(SigningKey).order_by(SigningKey.created_at, SigningKey.id))
    return [_info(row) for row in rows]


def public_keys(session: Session) -> list[PublicKey]:
    rows = session.scalars(select(SigningKey).order_by(SigningKey.created_at, SigningKey.id))
    return [PublicKey(row.kid, row.public_key, KeyStatus(row.status), row.not_before, row.not_after) for row in rows]


def _active(session: Session) -> SigningKey | None:
    return session.scalars(
        select(SigningKey).where(SigningKey.status == KeyStatus.ACTIVE.value).with_for_update()
    ).first()


def _create(session: Session, kek: bytes, now: dt.datetime) -> SigningKey:
    existing = set(session.scalars(select(SigningKey.kid)))
    kid = new_kid()
    while kid in existing:
        kid = new_kid()
    seed = generate_seed()
    row = SigningKey(
        kid=kid,
        public_key=public_key_from_seed(seed),
        sealed_private_key=seal_private_key(kek, seed, kid),
        kek_fingerprint=kek_fingerprint(kek),
        status=KeyStatus.ACTIVE.value,
        not_before=now,
    )
    session.add(row)
    session.flush()
    return row


class WrongKek(TemError):
    """The KEK given is well-formed but is not the one the existing signing keys are sealed with."""

    status_code = 409


def _check_kek(session: Session, kek: bytes) -> None:
    """Refuses a KEK other than the one that sealed the key signing now (or, with none active, the newest key that
    is not revoked; with only revoked keys, the newest key). A wrong but well-formed KEK would otherwise retire
    the good key and activate one that no other process can unseal."""
    rows = list(session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc(), SigningKey.id.desc())))
    if not rows:
        return
    ranked = sorted(rows, key=lambda row: {KeyStatus.ACTIVE.value: 0, KeyStatus.RETIRED.value: 1}.get(row.status, 2))
    expected = ranked[0].kek_fingerprint
    given = kek_fingerprint(kek)
    if given != expected:
        raise WrongKek(
            f"the key-encryption key is wrong: the signing keys are sealed with the KEK whose fingerprint is "
            f"{expected}, not {given}. Nothing was changed. To change the KEK, run "
            "`tem keys rekey --from-kek OLD --to-kek NEW`"
        )


def generate(session: Session, kek: bytes, actor: Principal) -> KeyInfo:
    if _active(session) is not None:
        raise Conflict("an active signing key already exists; use `tem keys rotate` to replace it")
    _check_kek(session, kek)
    row = _create(session, kek, utcnow())
    audit.record(session, actor, "key.generated", f"key:{row.kid}", {})
    return _info(row)


def rotate(session: Session, kek: bytes, actor: Principal) -> KeyInfo:
    """A new key signs from now on; the old one is retired and still verifies."""
    now = utcnow()
    old = _active(session)
    _check_kek(session, kek)
    if old is not None:
        old.status = KeyStatus.RETIRED.value
        old.not_after = now
    row = _create(session, kek, now)
    audit.record(session, actor, "key.rotated", f"key:{row.kid}", {"retired": old.kid if old is not None else None})
    return _info(row)


def revoke(session: Session, kid: str, reason: str, actor: Principal) -> KeyInfo:
    """After a compromise: every stamp signed with this key resolves as revoked. Consumers are told the fixed
    category `key_withdrawn`; `reason` is for operators and the audit log only."""
    row = session.scalars(select(SigningKey).where(SigningKey.kid == kid.upper()).with_for_update()).first()
    if row is None:
        raise NotFound(f"no signing key with id {kid!r}", field="kid")
    if row.status == KeyStatus.REVOKED.value:
        raise Conflict(f"key {row.kid} is already revoked")
    if len(reason.strip()) < 3:
        raise TemError("give a reason for revoking the key", field="reason")
    row.status = KeyStatus.REVOKED.value
    row.revoked_reason = reason.strip()
    row.not_after = row.not_after or utcnow()
    session.flush()
    details = {"category": RevocationCategory.KEY_WITHDRAWN.value, "reason": row.revoked_reason}
    audit.record(session, actor, "key.revoked", f"key:{row.kid}", details)
    return _info(row)


def rekey(session: Session, from_kek: bytes, to_kek: bytes, actor: Principal) -> int:
    """Seals every signing key again, under `to_kek`: all of them or none (the caller's unit of work). A key already
    under `to_kek` is left as it is, so a rekey that was interrupted can be run again. Returns how many keys were
    sealed again. Every key must open under `from_kek` (or already be under `to_kek`)."""
    old, new = kek_fingerprint(from_kek), kek_fingerprint(to_kek)
    if old == new:
        raise TemError("--from-kek and --to-kek are the same key", field="to_kek")
    rows = list(session.scalars(select(SigningKey).order_by(SigningKey.id).with_for_update()))
    changed: list[str] = []
    for row in rows:
        if row.kek_fingerprint == new:
            continue
        if row.kek_fingerprint != old:
            raise WrongKek(
                f"signing key {row.kid} is sealed with the KEK whose fingerprint is {row.kek_fingerprint}, "
                f"not --from-kek's {old}; nothing was changed"
            )
        try:
            seed = open_private_key(from_kek, row.sealed_private_key, row.kid)
        except KekError as exc:
            raise KekUnavailable(f"signing key {row.kid}: {exc}") from None
        row.sealed_private_key = seal_private_key(to_kek, seed, row.kid)
        row.kek_fingerprint = new
        changed.append(row.kid)
    session.flush()
    if changed:
        audit.record(session, actor, "keys.rekeyed", "keys", {"from": old, "to": new, "kids": changed})
    return len(changed)


class SignerCache:
    """Unsealed signers, kept in memory so a request does not pay for decryption each time."""

    def __init__(self) -> None:
        self._signers: dict[str, StampSigner] = {}
        self._lock = threading.Lock()

    def active_signer(self, session: Session, kek: bytes) -> StampSigner:
        row = session.scalars(select(SigningKey).where(SigningKey.status == KeyStatus.ACTIVE.value)).first()
        if row is None:
            raise Conflict("there is no active signing key; run `tem keys generate`")
        return self.signer_for(row, kek)

    def signer(self, session: Session, kid: str, kek: bytes) -> StampSigner:
        row = session.scalars(select(SigningKey).where(SigningKey.kid == kid)).first()
        if row is None:
            raise NotFound(f"no signing key with id {kid!r}")
        if row.status == KeyStatus.REVOKED.value:
            raise Conflict(f"signing key {kid} is revoked; its stamps can no longer be produced")
        return self.signer_for(row, kek)

    def signer_for(self, row: SigningKey, kek: bytes) -> StampSigner:
        with self._lock:
            cached = self._signers.get(row.kid)
            if cached is not None:
                return cached
        if row.kek_fingerprint != kek_fingerprint(kek):
            raise KekUnavailable(
                f"the key-encryption key is wrong: signing key {row.kid} was sealed with the KEK "
                f"whose fingerprint is {row.kek_fingerprint}, not {kek_fingerprint(kek)}"
            )
        try:
            seed = open_private_key(kek, row.sealed_private_key, row.kid)
        except KekError as exc:
            raise KekUnavailable(str(exc)) from None
        signer = StampSigner(row.kid, seed)
        with self._lock:
            self._signers[row.kid] = signer
        return signer
