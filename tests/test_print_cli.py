"""`tem print`: writes the file only when everything worked, with a progress bar."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from tem.cli import main
from tests.conftest import World
from tests.helpers import GTIN_A, ok, order, setup_packer
from tests.print_support import decode_all, render


def run(env: dict[str, str], *args: str, expect: int = 0) -> str:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return result.output


def activate(world: World, order_id: int) -> tuple[int, int]:
    """Activate the whole order on LOT-1: a box label's GS1-128 carries the lot, so it prints only then."""
    placed = ok(world.client.get(f"/api/v1/orders/{order_id}", headers=world.packer))
    first, last = placed["first_serial"], placed["last_serial"]
    body = {"gtin": GTIN_A, "first_serial": first, "last_serial": last, "lot": "LOT-1"}
    ok(world.client.post("/api/v1/activations", headers=world.packer, json=body), 201)
    return first, last


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"  # tmp_path also holds this test's database
    folder.mkdir()
    return folder


@pytest.fixture
def order_id(world: World) -> int:
    setup_packer(world.client, world.packer)
    return int(order(world.client, world.packer, GTIN_A, 7)["id"])


def test_print_pdf_and_zpl(env: dict[str, str], order_id: int, out_dir: Path, world: World) -> None:
    out = out_dir / "tags.pdf"
    output = run(env, "print", str(order_id), "--out", str(out))
    assert "printing durian-fruit-tag" in output  # the progress bar's label
    assert f"order {order_id}: 7 labels" in output
    uris = world.client.get(f"/api/v1/orders/{order_id}/stamps.csv", headers=world.packer).text.split()[1:]
    assert [decode_all(page) for page in render(out.read_bytes(), 203)] == [[u] for u in uris]
    zpl = out_dir / "boxes.zpl"
    env_with_pin = {**env, "TEM_PIN_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}
    first, last = activate(world, order_id)
    run(env_with_pin, "print", str(order_id), "--template", "durian-box-label", "--out", str(zpl))
    text = zpl.read_text(encoding="utf-8")
    assert text.count("^BQN,2,") == 7
    assert all(f"^FDQA,{u}^FS" in text for u in uris)
    assert [f"(01){GTIN_A}(21){serial}(10)LOT-1" for serial in range(first, last + 1)] == re.findall(
        r"\^FD(\(01\)\d{14}\(21\)\d+\(10\)[^^]*)\^FS", text
    )
    assert sorted(p.name for p in out_dir.iterdir()) == ["boxes.zpl", "tags.pdf"]


def test_box_labels_of_serials_not_activated_are_refused(
    env: dict[str, str], order_id: int, out_dir: Path, world: World
) -> None:
    placed = ok(world.client.get(f"/api/v1/orders/{order_id}", headers=world.packer))
    first, last = placed["first_serial"], placed["last_serial"]
    env_with_pin = {**env, "TEM_PIN_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}
    for name in ("boxes.pdf", "boxes.zpl"):
        result = CliRunner().invoke(
            main,
            ["print", str(order_id), "--template", "durian-box-label", "--out", str(out_dir / name)],
            env=env_with_pin,
        )
        assert result.exit_code == 2, result.output
        assert result.output.strip() == (
            f"error: box labels carry the lot in their barcode: activate serials {first}–{last} "
            "on their lot first, then print them"
        )
    assert list(out_dir.iterdir()) == []


def test_errors_leave_no_file(env: dict[str, str], order_id: int, out_dir: Path, world: World) -> None:
    out = out_dir / "x.pdf"
    assert "unknown label template 'nope'" in run(
        env, "print", str(order_id), "--template", "nope", "--out", str(out), expect=2
    )
    assert "no order with id 999" in run(env, "print", "999", "--out", str(out), expect=2)
    assert "activate serials" in run(
        env, "print", str(order_id), "--template", "durian-box-label", "--out", str(out), expect=2
    )
    activate(world, order_id)
    assert "TEM_PIN_KEY" in run(
        env, "print", str(order_id), "--template", "durian-box-label", "--out", str(out), expect=2
    )
    assert "name it .pdf or .zpl" in run(env, "print", str(order_id), "--out", str(out_dir / "x.txt"), expect=2)
    assert list(out_dir.iterdir()) == []


def test_a_failure_while_writing_removes_the_partial_file(
    env: dict[str, str], order_id: int, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from printing import pdf

    calls = {"n": 0}
    original = pdf._Writer.slot

    def failing(self: pdf._Writer, page: int, placed: list[object]) -> bytes:
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError("disk full")
        return original(self, page, placed)  # type: ignore[arg-type]

    monkeypatch.setattr(pdf._Writer, "slot", failing)
    monkeypatch.setattr(pdf, "_CHUNK", 1)  # write page by page, so part of the file is on disk
    out = out_dir / "x.pdf"
    result = CliRunner().invoke(main, ["print", str(order_id), "--out", str(out)], env=env, catch_exceptions=False)
    assert result.exit_code == 2  # a file that cannot be written is said in one line, not a traceback
    assert "disk full" in result.output
    assert calls["n"] == 4
    assert list(out_dir.iterdir()) == []
