"""Detection's compiled code: what is compiled, and a source changed since it was compiled is found stale."""

from __future__ import annotations

import os
from pathlib import Path

from tem import compiled


def _tree(root: Path) -> None:
    for module in ("tem.compiled", *compiled.COMPILED_MODULES, f"{compiled.SHARED}__mypyc"):
        src = compiled.source(module, root)
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_text("")
        if module != "tem.compiled":
            src.with_name(f"{src.stem}.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
        os.utime(src, (1_000_000, 1_000_000))  # every source older than its compiled code


def test_a_source_changed_after_it_was_compiled_is_stale(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert compiled.stale(tmp_path) == []
    assert compiled.up_to_date(tmp_path)
    os.utime(compiled.source("resolver.engine.rules", tmp_path))  # edited now
    assert compiled.stale(tmp_path) == ["resolver.engine.rules"]
    assert not compiled.up_to_date(tmp_path)


def test_a_changed_list_of_modules_makes_what_was_compiled_stale(tmp_path: Path) -> None:
    _tree(tmp_path)
    os.utime(compiled.source("tem.compiled", tmp_path))  # a module added or taken off the list
    assert compiled.stale(tmp_path) == ["tem.compiled"]
    assert not compiled.up_to_date(tmp_path)


def test_a_module_never_compiled_is_not_stale_but_not_up_to_date(tmp_path: Path) -> None:
    _tree(tmp_path)
    compiled.compiled_files("resolver.detection", tmp_path)[0].unlink()
    assert compiled.stale(tmp_path) == []  # it runs as its source
    assert not compiled.up_to_date(tmp_path)


def test_what_runs_is_what_was_built() -> None:
    # `make setup` compiles (CI runs it); TEM_PURE_PYTHON=1 leaves plain Python.
    expected = "compiled (mypyc)" if compiled.up_to_date() else "plain Python"
    assert compiled.describe() == expected
