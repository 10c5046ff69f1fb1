"""Signing keys: sealed at rest, rotated, revoked, and published as a cacheable JWK set."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from crypto import KeyStatus, StampSigner, parse_keyset_document, parse_stamp_uri, verify_stamp
from identity.principal import operator
from issuer import keys
from issuer.keys import KekUnavailable, SignerCache
from issuer.models import SigningKey
from tem.core.db import Database
from tem.core.errors import Conflict
from tem.core.settings import Settings
from tests.conftest import TEST_KEK, World
from tests.helpers import GTIN_A, ok, order, setup_packer


def test_keyset_is_a_jwk_set_with_status_etag_and_cache_control(world: World) -> None:
    response = world.client.get("/.well-known/tem-keys.json")
    assert response.status_code == 200
    assert response.headers["cache-control"].startswith("public, max-age=")
    assert response.headers["access-control-allow-origin"] == "*"
    doc = response.json()
    (key,) = doc["keys"]
    assert {k: key[k] for k in ("kty", "crv", "use", "status")} == {
        "kty": "OKP",
        "crv": "Ed25519",
        "use": "sig",
        "status": "active",
    }
    assert key["not_after"] is None
    assert key["not_before"]
    assert "d" not in key
    assert len(base64.urlsafe_b64decode(key["x"] + "=")) == 32
    again = world.client.get("/.well-known/tem-keys.json", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


def test_rotate_retires_the_old_key_which_still_verifies(world: World, settings: Settings) -> None:
    c = world.client
    setup_packer(c, world.packer)
    before = order(c, world.packer, GTIN_A, 3)
    old_uri = c.get(f"/api/v1/orders/{before['id']}/stamps.csv", headers=world.packer).text.splitlines()[1]
    etag = c.get("/.well-known/tem-keys.json").headers["etag"]

    db = Database(settings.effective_database_url)
    with db.session() as session:
        new = keys.rotate(session, keys.load_kek(settings), operator("test"))
    db.dispose()

    response = c.get("/.well-known/tem-keys.json", headers={"If-None-Match": etag})
    assert response.status_code == 200  # the keyset changed, so the ETag did
    statuses = {k["kid"]: k["status"] for k in response.json()["keys"]}
    assert statuses[before["kid"]] == "retired"
    assert statuses[new.kid] == "active"
    after = order(c, world.packer, GTIN_A, 3)
    assert after["kid"] == new.kid
    keyset = parse_keyset_document(response.json())
    assert verify_stamp(parse_stamp_uri(old_uri), keyset)
    # The old order's stamps are still produced with the key that signed them.
    assert c.get(f"/api/v1/orders/{before['id']}/stamps.csv", headers=world.packer).text.splitlines()[1] == old_uri


def test_revoked_key_makes_its_stamps_revoked(world: World, settings: Settings) -> None:
    c = world.client
    setup_packer(c, world.packer)
    issued = order(c, world.packer, GTIN_A, 2)
    uri = c.get(f"/api/v1/orders/{issued['id']}/stamps.csv", headers=world.packer).text.splitlines()[1]
    db = Database(settings.effective_database_url)
    with db.session() as session:
        keys.revoke(session, issued["kid"], "signing laptop stolen", operator("test"))
        with pytest.raises(Conflict):
            keys.revoke(session, issued["kid"], "again", operator("test"))
    db.dispose()
    keyset = parse_keyset_document(c.get("/.well-known/tem-keys.json").json())
    assert keyset[issued["kid"]].status is KeyStatus.REVOKED
    result = verify_stamp(parse_stamp_uri(uri), keyset)
    assert not result
    assert result.status.value == "key_revoked"
    # With no active key left, new orders fail clearly and write nothing.
    response = c.post("/api/v1/orders", headers=world.packer, json={"gtin": GTIN_A, "quantity": 5})
    assert response.status_code == 409
    assert "no active signing key" in response.json()["error"]["message"]
    assert len(ok(c.get("/api/v1/orders", headers=world.packer))) == 1


def test_private_keys_are_sealed_and_a_wrong_kek_is_a_clear_error(settings: Settings) -> None:
    db = Database(settings.effective_database_url)
    kek = keys.load_kek(settings)
    with db.session() as session:
        info = keys.generate(session, kek, operator("test"))
        row = session.scalars(select(SigningKey)).one()
        sealed = row.sealed_private_key
    signer = SignerCache()
    with db.session() as session:
        good = signer.active_signer(session, kek)
    assert isinstance(good, StampSigner)
    assert good.kid == info.kid
    wrong = bytes(32)
    with db.session() as session, pytest.raises(KekUnavailable, match="key-encryption key is wrong"):
        SignerCache().active_signer(session, wrong)
    db.dispose()
    # The seed is not in the stored blob in any readable form.
    assert len(sealed) > 32
    assert good.public_key not in sealed


@pytest.mark.parametrize(
    ("kek", "message"),
    [(None, "no key-encryption key"), ("bm90IDMyIGJ5dGVz", "exactly 32 bytes"), ("%%%", "base64")],
)
def test_missing_or_malformed_kek_is_refused(settings: Settings, kek: str | None, message: str) -> None:
    broken = settings.model_copy(update={"kek": kek, "kek_file": None})
    with pytest.raises(KekUnavailable, match=message):
        keys.load_kek(broken)


def test_kek_from_file(settings: Settings, tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    path = tmp_path / "kek"
    path.write_text(TEST_KEK + "\n")
    from_file = settings.model_copy(update={"kek": None, "kek_file": path})
    assert keys.load_kek(from_file) == keys.load_kek(settings)
    missing = settings.model_copy(update={"kek": None, "kek_file": tmp_path / "nope"})
    with pytest.raises(KekUnavailable, match="cannot read TEM_KEK_FILE"):
        keys.load_kek(missing)


def test_api_answers_503_without_a_kek_and_never_leaks_key_material(world: World) -> None:
    c = world.client
    setup_packer(c, world.packer)
    state = c.app.state.tem  # type: ignore[attr-defined]
    state.settings = state.settings.model_copy(update={"kek": None, "kek_file": None})
    state.signers = SignerCache()
    response = c.post("/api/v1/orders", headers=world.packer, json={"gtin": GTIN_A, "quantity": 5})
    assert response.status_code == 503
    assert "TEM_KEK" in response.json()["error"]["message"]
    assert TEST_KEK not in response.text
