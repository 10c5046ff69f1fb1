"""Keys: a wrong but well-formed KEK is refused by rotate and generate; `rekey` seals every key again."""

from __future__ import annotations

import base64

import pytest

from crypto import generate_kek, kek_fingerprint
from identity.principal import operator
from issuer import keys
from issuer.keys import WrongKek
from tem.core.db import Database
from tem.core.settings import Settings
from tests.conftest import World


def test_rotate_under_a_wrong_kek_is_refused_and_the_good_key_stays_active(world: World, settings: Settings) -> None:
    db = Database(settings.effective_database_url)
    try:
        with db.session() as session:
            (before,) = keys.list_keys(session)
        with pytest.raises(WrongKek, match="rekey"), db.session() as session:
            keys.rotate(session, generate_kek(), operator("test"))
        with db.session() as session:
            (after,) = keys.list_keys(session)
        assert after == before
        assert after.status.value == "active"
    finally:
        db.dispose()


def test_rekey_seals_every_key_again_and_rotate_then_takes_the_new_kek(world: World, settings: Settings) -> None:
    old, new = keys.load_kek(settings), generate_kek()
    db = Database(settings.effective_database_url)
    try:
        with db.session() as session:
            keys.rotate(session, old, operator("test"))
        with db.session() as session:
            assert keys.rekey(session, old, new, operator("test")) == 2
        with db.session() as session:
            assert keys.rekey(session, old, new, operator("test")) == 0  # idempotent
            signer = keys.SignerCache().active_signer(session, new)
            assert signer.kid
        with pytest.raises(WrongKek), db.session() as session:
            keys.rotate(session, old, operator("test"))
        with db.session() as session:
            keys.rotate(session, new, operator("test"))
    finally:
        db.dispose()
    assert kek_fingerprint(old) != kek_fingerprint(new)
    assert base64.b64encode(new)


def test_the_key_compromise_drill_end_to_end(world: World, env: dict[str, str]) -> None:
    """A signing key leaks: rotate, revoke it, order replacement stamps and activate them on the lot the old
    stamps stood for. The old stamps then read revoked at the resolver and the new ones genuine."""
    from click.testing import CliRunner

    from tem.cli import main
    from tests.helpers import GTIN_A
    from tests.resolver_helpers import issue_and_activate, runtime

    c = world.client
    stamps = issue_and_activate(world, quantity=10, activate_last=10)
    leaked = stamps.uris[0].split("k=")[1].split("&")[0]

    def tem(*args: str) -> str:
        result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    def verdict(uri: str) -> tuple[str, str]:
        runtime(c).registry.dirty = True  # as every `tem serve` does within TEM_REGISTRY_POLL_SECONDS
        read = c.get("/api/v1/stamps/verify", params={"uri": uri}, headers=world.inspector)
        assert read.status_code == 200, read.text
        return read.json()["verdict"], read.json()["state"]

    assert verdict(stamps.uris[0]) == ("genuine", "activated")
    tem("keys", "rotate")
    tem("keys", "revoke", leaked, "--reason", "the signing laptop was stolen")
    replacement = c.post("/api/v1/orders", headers=world.packer, json={"gtin": GTIN_A, "quantity": 10})
    assert replacement.status_code == 201, replacement.text
    placed = replacement.json()
    assert placed["kid"] != leaked
    activated = c.post(
        "/api/v1/activations",
        headers=world.packer,
        json={
            "gtin": GTIN_A,
            "first_serial": placed["first_serial"],
            "last_serial": placed["last_serial"],
            "lot": "LOT-1",
        },
    )
    assert activated.status_code == 201, activated.text
    fresh = c.get(f"/api/v1/orders/{placed['id']}/stamps.csv", headers=world.packer).text.splitlines()[1:]
    for old in stamps.uris[:3]:
        assert verdict(old)[1] == "key_revoked"
        assert verdict(old)[0] != "genuine"
    assert verdict(fresh[0]) == ("genuine", "activated")
    assert "the signing laptop was stolen" not in c.get(stamps.uris[0].replace("HTTP://", "http://")).text
