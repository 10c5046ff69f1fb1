"""Detection's per-scan code, compiled to C with mypyc: the engine and the online detector run on every scan.

The same source runs as plain Python when it is not compiled (`TEM_PURE_PYTHON=1 make setup`, or a machine
without a C compiler); compiling changes its speed, not what it does. A compiled module whose source changed
since is stale: Python would still load the old compiled code, so `make setup` compiles again and the test
suite refuses to run on it.

`scripts/compile-detection` compiles them in place. `python -m tem.compiled check` tells whether that is
needed, and `clean` removes the compiled code.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

COMPILED_MODULES = (
    "detection.engine.config",
    "detection.engine.geo",
    "detection.engine.model",
    "detection.engine.rules",
    "detection.engine.engine",
    "detection.online",
    "detection.replay",
)

ROOT = Path(__file__).resolve().parent.parent
# mypyc puts what the compiled modules share in one more extension; inside a package of ours, the editable
# install finds it wherever Python runs.
SHARED = "detection._compiled"
LIST_MODULE = "tem.compiled"  # this file: what is compiled together


def source(module: str, root: Path = ROOT) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def compiled_files(module: str, root: Path = ROOT) -> list[Path]:
    """The module's compiled extensions beside its source (Python loads one before the source)."""
    path = source(module, root)
    return sorted(path.parent.glob(f"{path.stem}.*.so")) + sorted(path.parent.glob(f"{path.stem}.*.pyd"))


def stale(root: Path = ROOT) -> list[str]:
    """Compiled modules whose source is newer than their compiled code."""
    out = []
    shared = compiled_files(f"{SHARED}__mypyc", root)
    if shared and source(LIST_MODULE, root).stat().st_mtime > min(f.stat().st_mtime for f in shared):
        out.append(LIST_MODULE)  # the list of modules changed: what was compiled together is not what is listed
    for module in COMPILED_MODULES:
        built = compiled_files(module, root)
        if built and source(module, root).stat().st_mtime > min(f.stat().st_mtime for f in built):
            out.append(module)
    return out


def up_to_date(root: Path = ROOT) -> bool:
    """Every module compiled, the shared part too, and none stale."""
    return all(compiled_files(m, root) for m in (*COMPILED_MODULES, f"{SHARED}__mypyc")) and not stale(root)


def describe() -> str:
    """Which detection modules run compiled, for `tem serve`'s first line and the benchmarks' reports."""
    loaded = [m for m in COMPILED_MODULES if _is_extension(m)]
    if len(loaded) == len(COMPILED_MODULES):
        return "compiled (mypyc)"
    if not loaded:
        return "plain Python"
    return f"partly compiled ({', '.join(loaded)})"


def _is_extension(module: str) -> bool:
    spec = importlib.util.find_spec(module)
    return spec is not None and spec.origin is not None and not spec.origin.endswith(".py")


def clean(root: Path = ROOT) -> None:
    """Every compiled extension beside a source of ours, listed or not: one taken off the list would still
    be loaded instead of its source."""
    packages = [init.parent for init in root.glob("*/__init__.py")]  # ours: not .venv's
    for package in packages:
        for built in (*package.glob("**/*.so"), *package.glob("**/*.pyd")):
            stem = built.name.split(".", 1)[0]
            if built.with_name(f"{stem}.py").exists() or stem == f"{SHARED.rpartition('.')[2]}__mypyc":
                built.unlink()


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "check":
        sys.exit(0 if up_to_date() else 1)
    elif command == "clean":
        clean()
    else:
        sys.exit("usage: python -m tem.compiled check|clean")
