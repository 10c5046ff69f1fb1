"""Detection's compiled code: what is compiled, and a source changed since it was compiled is found stale."""

from __future__ import annotations

import os
import types
from pathlib import Path

from tem import compiled


def _tree(root: Path) -> None:
    for module in (compiled.LIST_MODULE, *compiled.COMPILED_MODULES, f"{compiled.SHARED}__mypyc"):
        src = compiled.source(module, root)
        src.parent.mkdir(parents=True, exist_ok=True)
        (src.parent / "__init__.py").write_text("")
        src.write_text("")
        if module != compiled.LIST_MODULE:
            src.with_name(f"{src.stem}.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
        os.utime(src, (1_000_000, 1_000_000))  # every source older than its compiled code


def test_a_source_changed_after_it_was_compiled_is_stale(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert compiled.stale(tmp_path) == []
    assert compiled.up_to_date(tmp_path)
    os.utime(compiled.source("detection.engine.rules", tmp_path))  # edited now
    assert compiled.stale(tmp_path) == ["detection.engine.rules"]
    assert not compiled.up_to_date(tmp_path)


def test_a_changed_list_of_modules_makes_what_was_compiled_stale(tmp_path: Path) -> None:
    _tree(tmp_path)
    os.utime(compiled.source(compiled.LIST_MODULE, tmp_path))  # a module added or taken off the list
    assert compiled.stale(tmp_path) == [compiled.LIST_MODULE]
    assert not compiled.up_to_date(tmp_path)


def test_a_module_never_compiled_is_not_stale_but_not_up_to_date(tmp_path: Path) -> None:
    _tree(tmp_path)
    compiled.compiled_files("detection.online", tmp_path)[0].unlink()
    assert compiled.stale(tmp_path) == []  # it runs as its source
    assert not compiled.up_to_date(tmp_path)


def test_clean_removes_what_was_compiled_listed_or_not(tmp_path: Path) -> None:
    _tree(tmp_path)
    dropped = tmp_path / "detection" / "scans.py"  # compiled once, then taken off the list
    dropped.write_text("")
    dropped.with_name("scans.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    vendored = tmp_path / "detection" / "vendored.cpython-311-x86_64-linux-gnu.so"  # no source of ours beside it
    vendored.write_bytes(b"")
    installed = tmp_path / ".venv" / "site" / "mypy"  # someone else's compiled modules, beside their sources
    installed.mkdir(parents=True)
    (installed / "checker.py").write_text("")
    (installed / "checker.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    compiled.clean(tmp_path)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("**/*.so"))
    assert left == [".venv/site/mypy/checker.cpython-311-x86_64-linux-gnu.so", str(vendored.relative_to(tmp_path))]
    assert not compiled.up_to_date(tmp_path)


def test_what_runs_is_what_was_built() -> None:
    # `make setup` compiles (CI runs it); TEM_PURE_PYTHON=1 leaves plain Python.
    expected = "compiled (mypyc)" if compiled.up_to_date() else "plain Python"
    assert compiled.describe() == expected


def test_the_objects_made_on_every_scan_are_built_by_compiled_code() -> None:
    """A compiled dataclass's own `__init__` stays a Python function, setting each field through a descriptor
    (about 0.4 µs an object, several objects a scan): the classes made on every scan write their own."""
    from detection.engine.engine import StampOutcome
    from detection.engine.model import Scan, Sighting, StampMemory
    from detection.online import Judgement

    hot = (Scan, Sighting, StampMemory, StampOutcome, Judgement)
    python_inits = [cls.__name__ for cls in hot if isinstance(cls.__dict__["__init__"], types.FunctionType)]
    assert python_inits == ([] if compiled.describe() == "compiled (mypyc)" else [cls.__name__ for cls in hot])
    # Written by hand, they still behave as the dataclasses they were: defaults, keywords, fresh lists.
    assert StampMemory().devices is not StampMemory().devices
    assert StampMemory(scans=2, devices=[7]) == StampMemory(2, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0, 0, "", 0, [7], [])
    scan = Scan("01J", 1.0, "08935000000014", "5", device="phone")
    assert (scan.sig_valid, scan.country, scan.lat, scan.role.value, scan.network) == (True, "", None, "consumer", None)
    assert StampOutcome([], []).newly_scanned is False
