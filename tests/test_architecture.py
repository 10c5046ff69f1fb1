"""The import rules between Tem's packages, checked on the checkout's source files (nothing is imported).

Every ``.py`` file of the product packages (the top-level packages of the repository, without ``tests``,
``loadtests``, ``build`` and the virtualenv) is parsed with `ast`; every import counts, the ones inside
functions and under ``if TYPE_CHECKING:`` included. ``tem.core`` (the kernel: settings, db, errors, time) is a
node of its own, apart from the rest of ``tem`` (the composition root that wires everything together).

The rules, one test each: no cycle between packages; each package imports only the packages its row of the
table allows (``LAYERS``); the kernel imports no other Tem package; only ``tem`` imports the composition root;
the pure packages (``crypto``, ``printing``, ``detection.engine``) import no web, database or cache library and no
other Tem package; no package holds more than 40% of the product's lines; ``Role`` and ``Severity`` are defined
once; no top-level package shadows a stdlib module; mypy is strict everywhere; ``templates`` (the pages and label
layouts, installed as package data) is a package that imports nothing of Tem. The checkers are plain functions of
a root directory, and the self-tests at the end run each one on a small synthetic tree to show that it can fail.
docs/architecture.md explains the layering.
"""

from __future__ import annotations

import ast
import functools
import gc
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Top-level directories that are never product code.
NOT_PRODUCT = frozenset({"tests", "loadtests", "build", "docs", "scripts", "templates"})
# Top-level packages of data files only: installed with Tem so that its code finds them wherever it runs, and
# importing nothing of Tem (product packages import them, for their folder's path).
DATA_PACKAGES = frozenset({"templates"})
KERNEL = "tem.core"
COMPOSITION_ROOT = "tem"

# Pure packages, and the Tem packages each may import (itself included).
PURE_PACKAGES: Mapping[str, frozenset[str]] = {
    "crypto": frozenset({"crypto"}),
    "printing": frozenset({"printing"}),
    "detection.engine": frozenset({"detection.engine"}),
}
# Web frameworks, HTTP clients and servers, databases, caches, templates: none of them in a pure package.
FORBIDDEN_IN_PURE = frozenset(
    {
        "fastapi",
        "starlette",
        "sqlalchemy",
        "alembic",
        "psycopg",
        "psycopg2",
        "asyncpg",
        "sqlite3",
        "redis",
        "hiredis",
        "httpx",
        "requests",
        "aiohttp",
        "urllib3",
        "uvicorn",
        "httptools",
        "jinja2",
    }
)
# Who may import whom: the table of docs/architecture.md, by top-level package (the kernel apart; `detection` is
# one node here, and `detection.engine` is held to its own row by the purity rule). `tem` may import everything.
LAYERS: Mapping[str, frozenset[str]] = {
    KERNEL: frozenset(),
    "crypto": frozenset(),
    "printing": frozenset(),
    "detection": frozenset({"crypto", KERNEL}),
    "identity": frozenset({"detection", KERNEL}),
    "epcis": frozenset({"crypto", KERNEL}),
    "issuer": frozenset({"epcis", "identity", "detection", "crypto", "printing", KERNEL}),
    "chain": frozenset({"epcis", "issuer", "identity", "detection", "crypto", KERNEL}),
    "alerts": frozenset({"issuer", "identity", "detection", "crypto", KERNEL}),
    "resolver": frozenset({"epcis", "issuer", "identity", "detection", "crypto", KERNEL}),
    "inspector": frozenset({"resolver", "alerts", "issuer", "identity", "detection", "crypto", KERNEL}),
    "reports": frozenset({"resolver", "alerts", "issuer", "identity", "detection", "crypto", KERNEL}),
    "ministry": frozenset(
        {"reports", "inspector", "resolver", "alerts", "issuer", "identity", "detection", "printing", KERNEL}
    ),
    "portal": frozenset({"resolver", "alerts", "issuer", "identity", "detection", "crypto", "printing", KERNEL}),
}
MAX_PACKAGE_SHARE = 0.40
SHARED_VOCABULARY_DEFINED_ONCE = ("Role", "Severity")

# The flags `strict = true` turns on; an override setting one of them to false weakens strict mode.
MYPY_STRICT_FLAGS = frozenset(
    {
        "warn_unused_configs",
        "disallow_any_generics",
        "disallow_subclassing_any",
        "disallow_untyped_calls",
        "disallow_untyped_defs",
        "disallow_incomplete_defs",
        "check_untyped_defs",
        "disallow_untyped_decorators",
        "warn_redundant_casts",
        "warn_unused_ignores",
        "warn_return_any",
        "no_implicit_reexport",
        "strict_equality",
        "extra_checks",
    }
)


@dataclass(frozen=True)
class Import:
    """One imported name: where (file relative to the root, line) and what, as an absolute dotted name."""

    file: str
    line: int
    target: str  # `from a.b import c` -> "a.b.c"; `import a.b` -> "a.b"
    shown: str  # the statement, relative imports resolved: "from a.b import c"

    def __str__(self) -> str:
        return f"{self.file}:{self.line} → {self.shown}"


@dataclass(frozen=True)
class Source:
    path: str  # relative to the root, with forward slashes
    module: str  # dotted module name ("pkg.sub" for pkg/sub/__init__.py)
    is_package: bool
    text: str
    first_statement: int  # line of the module's first statement (docstring included); past the end if none
    defined: tuple[tuple[str, int], ...]  # (name, line) of every class and module-level new type


@dataclass(frozen=True)
class Product:
    root: Path
    packages: frozenset[str]  # top-level package names
    sources: tuple[Source, ...]
    imports: tuple[Import, ...]


# ---------------------------------------------------------------------------------------------------------
# Reading the tree


def product_packages(root: Path) -> frozenset[str]:
    """Top-level directories holding Python code, apart from tests, benchmarks, builds and hidden ones."""
    return frozenset(
        entry.name
        for entry in root.iterdir()
        if entry.is_dir()
        and entry.name.isidentifier()
        and not entry.name.startswith((".", "_"))
        and entry.name not in NOT_PRODUCT
        and any(_python_files(entry))
    )


def _python_files(directory: Path) -> Iterable[Path]:
    for path in directory.rglob("*.py"):
        if not any(part.startswith(".") or part == "__pycache__" for part in path.relative_to(directory).parts):
            yield path


def _module_name(relative: Path) -> tuple[str, bool]:
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str | None:
    package = module.split(".") if is_package else module.split(".")[:-1]
    if level - 1 > len(package):
        return None  # beyond the top-level package: Python refuses it too
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, *([name] if name else [])])


def _all_statements(tree: ast.Module) -> Iterable[ast.stmt]:
    """Every statement at any depth: module level, function and class bodies, `if TYPE_CHECKING:`, `try`,
    `with`, `match` blocks. Expressions are not entered (imports and classes are statements), which is what
    keeps this several times faster than `ast.walk`."""
    stack: list[ast.AST] = list(reversed(tree.body))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.stmt):
            yield node
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, field, None)
            if isinstance(children, list):
                stack.extend(reversed(children))


def _imports_of(tree: ast.Module, path: str, module: str, is_package: bool) -> Iterable[Import]:
    for node in _all_statements(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name, f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                resolved = _resolve_relative(module, is_package, node.level, node.module)
                if resolved is None:
                    continue
                base = resolved
            for alias in node.names:
                target = base if alias.name == "*" else f"{base}.{alias.name}".lstrip(".")
                yield Import(path, node.lineno, target, f"from {base} import {alias.name}")


def _defined_in(tree: ast.Module) -> Iterable[tuple[str, int]]:
    """Every `class X` (at any depth), and every module-level `X = <expression>` / `X: T = <expression>` that
    makes a new type; a plain alias of another name (`X = other.X`) is a re-export and is left out."""
    for node in _all_statements(tree):
        if isinstance(node, ast.ClassDef):
            yield node.name, node.lineno
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        if value is not None and not isinstance(value, ast.Name | ast.Attribute):
            yield from ((t.id, node.lineno) for t in targets if isinstance(t, ast.Name))


@functools.cache
def read_product(root: Path) -> Product:
    """Parse every product file once and keep only what the rules read (no syntax trees: they are large)."""
    packages = product_packages(root)
    sources: list[Source] = []
    imports: list[Import] = []
    collecting = gc.isenabled()
    gc.disable()  # parsing allocates millions of objects and no cycles; the collector would triple its time
    try:
        for package in sorted(packages):
            for path in sorted(_python_files(root / package)):
                relative = path.relative_to(root)
                module, is_package = _module_name(relative)
                text = path.read_text(encoding="utf-8")
                tree = ast.parse(text, str(relative))
                first = tree.body[0].lineno if tree.body else len(text.splitlines()) + 1
                name = relative.as_posix()
                sources.append(Source(name, module, is_package, text, first, tuple(_defined_in(tree))))
                imports.extend(_imports_of(tree, name, module, is_package))
    finally:
        if collecting:
            gc.enable()
    return Product(root, packages, tuple(sources), tuple(imports))


def node_of(module: str, packages: frozenset[str]) -> str | None:
    """The graph node a module belongs to: its top-level package, with the kernel apart; None if not ours."""
    parts = module.split(".")
    if parts[0] not in packages:
        return None
    if module == KERNEL or module.startswith(KERNEL + "."):
        return KERNEL
    return parts[0]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _listing(imports: Iterable[Import]) -> str:
    return "\n".join(f"  {statement}" for statement in _statements(imports))


# ---------------------------------------------------------------------------------------------------------
# The checkers: each returns what breaks its rule, empty when the rule holds.


def package_graph(product: Product) -> dict[str, dict[str, list[Import]]]:
    """node -> imported node -> the imports that make the edge (imports within a node are left out)."""
    graph: dict[str, dict[str, list[Import]]] = {}
    for imp in product.imports:
        source = node_of(_module_name(Path(imp.file))[0], product.packages)
        target = node_of(imp.target, product.packages)
        if source is None or target is None or source == target:
            continue
        graph.setdefault(source, {}).setdefault(target, []).append(imp)
    return graph


def tangles(graph: Mapping[str, Mapping[str, object]]) -> list[set[str]]:
    """The groups of nodes that import each other, directly or not (strongly connected, more than one node)."""
    nodes = sorted(set(graph) | {t for targets in graph.values() for t in targets})

    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        stack = [start]
        while stack:
            for nxt in graph.get(stack.pop(), {}):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    reach = {node: reachable(node) for node in nodes}
    groups: list[set[str]] = []
    for node in nodes:
        if node in reach[node] and not any(node in group for group in groups):
            groups.append({n for n in reach[node] if node in reach[n]})
    return groups


def shortest_cycle(graph: Mapping[str, Mapping[str, object]], group: set[str]) -> list[str]:
    """A shortest cycle through the group's first node, that node repeated at the end (breadth-first)."""
    start = min(group)
    previous: dict[str, str] = {}
    frontier = [start]
    while start not in previous:
        following = []
        for node in frontier:
            for nxt in sorted(graph.get(node, {})):
                if nxt in group and nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    path = [start]
    node = previous[start]
    while node != start:
        path.append(node)
        node = previous[node]
    return [start, *reversed(path[1:]), start]


def find_cycles(graph: Mapping[str, Mapping[str, object]]) -> list[list[str]]:
    return [shortest_cycle(graph, group) for group in tangles(graph)]


def _statements(imports: Iterable[Import]) -> list[str]:
    """`file:line → statement`, one per statement: the names of one `from x import a, b` together."""
    merged: dict[tuple[str, int, str], list[str]] = {}
    for imp in sorted(imports, key=lambda i: (i.file, i.line, i.shown)):
        head, _, name = imp.shown.rpartition(" import ")
        if head.startswith("from "):
            merged.setdefault((imp.file, imp.line, head), []).append(name)
        else:
            merged.setdefault((imp.file, imp.line, imp.shown), [])
    return [
        f"{file}:{line} → {head} import {', '.join(names)}" if names else f"{file}:{line} → {head}"
        for (file, line, head), names in merged.items()
    ]


def cycle_problems(product: Product) -> list[str]:
    """Per group of packages that import each other: a shortest cycle, then every edge between its members
    (one edge of each cycle must go), with the import statements that make it."""
    graph = package_graph(product)
    problems = []
    for group in tangles(graph):
        lines = [f"cycle: {' → '.join(shortest_cycle(graph, group))}"]
        if len(group) > 2:
            lines.append(f"  packages tangled together: {', '.join(sorted(group))}")
        edges = [
            (_statements(graph[s][t]), s, t) for s in sorted(group) for t in sorted(graph.get(s, {})) if t in group
        ]
        lines.append("  imports between them, fewest first (a light edge is usually the one to cut):")
        for statements, source, target in sorted(edges, key=lambda edge: len(edge[0])):
            lines.append(f"  {source} → {target}: {len(statements)} import statement(s), e.g.")
            lines.extend(f"    {statement}" for statement in statements[:4])
        problems.append("\n".join(lines))
    return problems


def kernel_problems(product: Product) -> list[Import]:
    """Imports by tem.core of any other Tem package (the composition root included)."""
    return [
        imp
        for imp in product.imports
        if _within(_module_name(Path(imp.file))[0], KERNEL)
        and node_of(imp.target, product.packages) not in (None, KERNEL)
    ]


def composition_root_problems(product: Product) -> list[Import]:
    """Imports of `tem` (apart from tem.core) from outside tem/."""
    return [
        imp
        for imp in product.imports
        if not _within(_module_name(Path(imp.file))[0], COMPOSITION_ROOT)
        and node_of(imp.target, product.packages) == COMPOSITION_ROOT
    ]


def purity_problems(product: Product, pure: Mapping[str, frozenset[str]] = PURE_PACKAGES) -> list[Import]:
    """Imports by a pure package of a web/database/cache library, or of a Tem package it may not import."""
    problems = []
    for imp in product.imports:
        module = _module_name(Path(imp.file))[0]
        for package, allowed in pure.items():
            if not _within(module, package):
                continue
            top = imp.target.split(".")[0]
            forbidden_library = top in FORBIDDEN_IN_PURE
            foreign_tem = top in product.packages and not any(_within(imp.target, ok) for ok in allowed)
            if forbidden_library or foreign_tem:
                problems.append(imp)
    return problems


def layer_problems(product: Product, layers: Mapping[str, frozenset[str]] = LAYERS) -> list[str]:
    """Per package: an import of a package its row does not allow, or no row at all (the composition root is free)."""
    graph = package_graph(product)
    nodes = {node_of(source.module, product.packages) for source in product.sources} - {None, COMPOSITION_ROOT}
    problems = []
    for node in sorted(n for n in nodes if n is not None):
        allowed = layers.get(node)
        if allowed is None:
            problems.append(f"{node} has no row in the table of who may import whom (LAYERS, docs/architecture.md)")
            continue
        for target, imports in sorted(graph.get(node, {}).items()):
            if target not in allowed:
                problems.append(f"{node} → {target}, which its row does not allow:\n" + _listing(imports))
    return problems


def package_lines(product: Product) -> dict[str, int]:
    lines: dict[str, int] = dict.fromkeys(product.packages, 0)
    for source in product.sources:
        lines[source.path.split("/")[0]] += len(source.text.splitlines())
    return lines


def size_problems(product: Product, limit: float = MAX_PACKAGE_SHARE) -> list[str]:
    lines = package_lines(product)
    total = sum(lines.values())
    if not total:
        return []
    return [
        f"{package}/ holds {count} of {total} product lines ({count / total:.0%} > {limit:.0%})"
        for package, count in sorted(lines.items())
        if count / total > limit
    ]


def definitions(product: Product, name: str) -> list[str]:
    """Where `name` is defined: `class name`, or a module-level `name = <expression>` that makes a new type."""
    return sorted(f"{s.path}:{line}" for s in product.sources for defined, line in s.defined if defined == name)


def stdlib_shadow_problems(product: Product) -> list[str]:
    return sorted(f"{name}/ shadows the stdlib module `{name}`" for name in product.packages & sys.stdlib_module_names)


def data_package_problems(product: Product, data_packages: frozenset[str] = DATA_PACKAGES) -> list[str]:
    """A data package that is not a package (its files would not install), or that imports a Tem package."""
    problems = []
    for package in sorted(data_packages):
        folder = product.root / package
        if not (folder / "__init__.py").is_file():
            problems.append(f"{package}/__init__.py is missing: without it {package}/ does not install with Tem")
            continue
        for path in sorted(_python_files(folder)):
            relative = path.relative_to(product.root)
            module, is_package = _module_name(relative)
            tree = ast.parse(path.read_text(encoding="utf-8"), str(relative))
            problems.extend(
                str(imp)
                for imp in _imports_of(tree, relative.as_posix(), module, is_package)
                if imp.target.split(".")[0] in product.packages
            )
    return problems


_INLINE_MYPY = re.compile(r"#\s*mypy:\s*(?P<flags>.*)$")
_TYPE_IGNORE = re.compile(r"#\s*type:\s*ignore\b")


def mypy_problems(product: Product) -> list[str]:
    """Anything that makes mypy less than strict on product code: pyproject.toml's [tool.mypy] and its
    overrides, `exclude` patterns that match product files, and per-file escapes (`# mypy: ignore-errors`, a
    `# type: ignore` before the first statement, which silences the whole module)."""
    pyproject = product.root / "pyproject.toml"
    if not pyproject.exists():
        return ["pyproject.toml is missing"]
    mypy = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}).get("mypy")
    if mypy is None:
        return ["pyproject.toml has no [tool.mypy]"]
    return _mypy_config_problems(mypy, product) + _inline_mypy_problems(product)


def _mypy_config_problems(mypy: Mapping[str, object], product: Product) -> list[str]:
    problems = []
    if mypy.get("strict") is not True:
        problems.append(f"[tool.mypy] must set `strict = true` (it has strict = {mypy.get('strict')!r})")
    problems.extend(
        f"[tool.mypy] turns a strict flag off: {f} = false" for f in sorted(MYPY_STRICT_FLAGS) if mypy.get(f) is False
    )
    overrides = mypy.get("overrides", [])
    for override in overrides if isinstance(overrides, list) else []:
        where = f"[[tool.mypy.overrides]] module = {override.get('module')!r}"
        if override.get("ignore_errors"):
            problems.append(f"{where} sets ignore_errors = true")
        if override.get("strict") is False:
            problems.append(f"{where} sets strict = false")
        problems.extend(f"{where} sets {f} = false" for f in sorted(MYPY_STRICT_FLAGS) if override.get(f) is False)
    excludes = mypy.get("exclude", [])
    for pattern in [excludes] if isinstance(excludes, str) else excludes if isinstance(excludes, list) else []:
        hit = [s.path for s in product.sources if re.search(str(pattern), s.path)]
        if hit:
            problems.append(f"[tool.mypy] exclude = {pattern!r} leaves out product files, e.g. {hit[0]}")
    return problems


def _inline_mypy_problems(product: Product) -> list[str]:
    problems = []
    for source in product.sources:
        lines = source.text.splitlines()
        for number, line in enumerate(lines, 1):
            match = _INLINE_MYPY.search(line)
            if match and re.search(r"ignore-errors|\bno-|\ballow-", match["flags"]):
                problems.append(f"{source.path}:{number} weakens mypy inline: {line.strip()}")
        problems.extend(
            f"{source.path}:{number} `# type: ignore` before the first statement silences the whole module"
            for number, line in enumerate(lines[: source.first_statement - 1], 1)
            if _TYPE_IGNORE.search(line)
        )
    return problems


# ---------------------------------------------------------------------------------------------------------
# The rules, on this checkout


@pytest.fixture(scope="module")
def product() -> Product:
    found = read_product(REPO_ROOT)
    assert COMPOSITION_ROOT in found.packages, f"no tem/ package under {REPO_ROOT}"
    assert (REPO_ROOT / "tem" / "core").is_dir(), "the kernel tem/core/ is missing"
    return found


def test_no_import_cycle_between_packages(product: Product) -> None:
    problems = cycle_problems(product)
    assert not problems, "Packages import each other in a cycle (tem.core counted apart from tem):\n" + "\n".join(
        problems
    )


def test_kernel_imports_no_other_tem_package(product: Product) -> None:
    problems = kernel_problems(product)
    assert not problems, "tem.core is the kernel: stdlib and third-party only, no other Tem package:\n" + _listing(
        problems
    )


def test_only_tem_imports_the_composition_root(product: Product) -> None:
    problems = composition_root_problems(product)
    assert not problems, (
        "Outside tem/, only tem.core may be imported from tem (the rest is the composition root, which imports "
        "everyone):\n" + _listing(problems)
    )


def test_pure_packages_import_no_io_library_nor_other_tem_package(product: Product) -> None:
    problems = purity_problems(product)
    rules = ", ".join(f"{p} may import only {'/'.join(sorted(a))}" for p, a in PURE_PACKAGES.items())
    assert not problems, (
        f"Pure packages import no web, database or cache library ({', '.join(sorted(FORBIDDEN_IN_PURE))}) "
        f"and no other Tem package ({rules}):\n" + _listing(problems)
    )


def test_each_package_imports_only_what_its_row_allows(product: Product) -> None:
    problems = layer_problems(product)
    assert not problems, (
        "Imports against the layering (docs/architecture.md, 'Who may import whom'; LAYERS here):\n"
        + "\n".join(problems)
    )


def test_no_package_holds_too_much_of_the_product(product: Product) -> None:
    problems = size_problems(product)
    assert not problems, "A package this large wants splitting:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", SHARED_VOCABULARY_DEFINED_ONCE)
def test_shared_vocabulary_is_defined_once(product: Product, name: str) -> None:
    places = definitions(product, name)
    assert len(places) == 1, (
        f"`{name}` must be defined exactly once (in detection/engine/model.py) and imported from there; "
        f"found {len(places)} definition(s):\n" + "\n".join(f"  {p}" for p in places)
    )


def test_no_top_level_package_shadows_the_stdlib(product: Product) -> None:
    problems = stdlib_shadow_problems(product)
    assert not problems, "Top-level package named like a stdlib module:\n" + "\n".join(problems)


def test_data_packages_install_and_import_nothing_of_tem(product: Product) -> None:
    problems = data_package_problems(product)
    assert not problems, (
        f"{', '.join(sorted(DATA_PACKAGES))}: a package (so that its files ship as package data) that imports no "
        "Tem package:\n" + "\n".join(f"  {p}" for p in problems)
    )


def test_mypy_is_strict_everywhere(product: Product) -> None:
    problems = mypy_problems(product)
    assert not problems, "mypy must be strict on all product code:\n" + "\n".join(f"  {p}" for p in problems)


# ---------------------------------------------------------------------------------------------------------
# Self-tests: each checker on a synthetic tree, where its rule is broken on purpose.


def _tree(root: Path, files: Mapping[str, str]) -> Product:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return read_product(root)


def test_self_discovery_skips_tests_builds_and_non_python(tmp_path: Path) -> None:
    product = _tree(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "ns/mod.py": "",  # no __init__.py: still ours
            "tests/test_x.py": "",
            "loadtests/x.py": "",
            "build/lib/pkg/__init__.py": "",
            ".venv/lib/site.py": "",
            "templates/page.html": "",
        },
    )
    assert product.packages == {"pkg", "ns"}


def test_self_finds_imports_everywhere_and_resolves_relative_ones(tmp_path: Path) -> None:
    product = _tree(
        tmp_path,
        {
            "a/__init__.py": "from . import x\n",
            "a/sub/mod.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from b import T\n"
                "def f() -> None:\n    import c.deep\n"
                "from ..y import z\n"
                "from .sibling import *\n"
                "try:\n    import d\nexcept ImportError:\n    import e\nelse:\n    import f\nfinally:\n    import g\n"
                "class K:\n    async def m(self) -> None:\n        async with x:\n            import h\n"
                "match 1:\n    case 1:\n        import i\n"
                "while True:\n    for _ in ():\n        import j\n"
            ),
        },
    )
    assert {(i.file, i.target) for i in product.imports} == {
        ("a/__init__.py", "a.x"),
        ("a/sub/mod.py", "typing.TYPE_CHECKING"),
        ("a/sub/mod.py", "b.T"),
        ("a/sub/mod.py", "c.deep"),
        ("a/sub/mod.py", "a.y.z"),
        ("a/sub/mod.py", "a.sub.sibling"),
        *(("a/sub/mod.py", name) for name in "defghij"),
    }


def test_self_finds_a_two_package_cycle(tmp_path: Path) -> None:
    product = _tree(
        tmp_path,
        {
            "a/__init__.py": "",
            "a/m.py": "import os\nfrom b.n import thing\n",
            "b/__init__.py": "",
            "b/n.py": "def f() -> None:\n    from a import m\n",
            "c/__init__.py": "import a\n",
        },
    )
    assert find_cycles(package_graph(product)) == [["a", "b", "a"]]
    [problem] = cycle_problems(product)
    assert "cycle: a → b → a" in problem
    assert "a/m.py:2 → from b.n import thing" in problem
    assert "b/n.py:2 → from a import m" in problem


def test_self_finds_a_longer_cycle_and_none_in_a_layering(tmp_path: Path) -> None:
    assert find_cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"top": {"mid": 1, "low": 1}, "mid": {"low": 1}, "low": {}}) == []


def test_self_counts_the_kernel_apart_from_the_composition_root(tmp_path: Path) -> None:
    layered = _tree(
        tmp_path / "ok",
        {
            "tem/__init__.py": "",
            "tem/core/__init__.py": "",
            "tem/core/settings.py": "import pydantic\n",
            "tem/app.py": "import svc\nfrom tem.core import settings\n",
            "svc/__init__.py": "from tem.core.settings import Settings\nfrom tem import core\n",
        },
    )
    assert cycle_problems(layered) == []
    assert kernel_problems(layered) == []
    assert composition_root_problems(layered) == []

    broken = _tree(
        tmp_path / "broken",
        {
            "tem/__init__.py": "",
            "tem/core/__init__.py": "",
            "tem/core/settings.py": "def f() -> None:\n    from svc import x\n",
            "tem/app.py": "import svc\n",
            "svc/__init__.py": "import tem.core\nfrom tem.app import app\n",
        },
    )
    [problem] = cycle_problems(broken)  # svc, tem and tem.core import each other: one tangle
    assert problem.startswith("cycle: svc → tem → svc\n  packages tangled together: svc, tem, tem.core\n")
    assert "tem.core → svc: 1 import statement(s), e.g.\n    tem/core/settings.py:2 → from svc import x" in problem
    assert [str(i) for i in kernel_problems(broken)] == ["tem/core/settings.py:2 → from svc import x"]
    assert [str(i) for i in composition_root_problems(broken)] == ["svc/__init__.py:2 → from tem.app import app"]


def test_self_finds_io_libraries_and_foreign_packages_in_pure_code(tmp_path: Path) -> None:
    product = _tree(
        tmp_path,
        {
            "crypto/__init__.py": "import hashlib\nimport nacl\nfrom crypto import gtin\n",
            "crypto/gtin.py": "def f() -> None:\n    from redis.asyncio import Redis\n",
            "det/__init__.py": "import sqlalchemy\n",  # not pure: allowed
            "det/engine/__init__.py": "from det.engine import model\nfrom det import online\n",
            "det/engine/model.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import fastapi\n",
            "det/online.py": "",
        },
    )
    pure = {"crypto": frozenset({"crypto"}), "det.engine": frozenset({"det.engine"})}
    assert [str(i) for i in purity_problems(product, pure)] == [
        "crypto/gtin.py:2 → from redis.asyncio import Redis",
        "det/engine/__init__.py:2 → from det import online",
        "det/engine/model.py:3 → import fastapi",
    ]


def test_self_finds_imports_against_the_layering(tmp_path: Path) -> None:
    product = _tree(
        tmp_path,
        {
            "tem/__init__.py": "import low\nimport high\nimport stray\n",  # the composition root: anything
            "tem/core/__init__.py": "",
            "low/__init__.py": "from tem.core import x\n",
            "high/__init__.py": "import low\ndef f() -> None:\n    from mid import y\n",
            "mid/__init__.py": "",
            "stray/__init__.py": "",
        },
    )
    layers = {
        KERNEL: frozenset(),
        "low": frozenset({KERNEL}),
        "high": frozenset({"low"}),
        "mid": frozenset(),
    }
    assert layer_problems(product, layers) == [
        "high → mid, which its row does not allow:\n  high/__init__.py:3 → from mid import y",
        "stray has no row in the table of who may import whom (LAYERS, docs/architecture.md)",
    ]


def test_self_finds_a_package_too_large(tmp_path: Path) -> None:
    product = _tree(tmp_path, {"big/__init__.py": "x = 1\n" * 90, "small/__init__.py": "y = 1\n" * 10})
    assert package_lines(product) == {"big": 90, "small": 10}
    assert size_problems(product) == ["big/ holds 90 of 100 product lines (90% > 40%)"]
    assert size_problems(product, limit=0.95) == []


def test_self_finds_duplicate_and_missing_definitions(tmp_path: Path) -> None:
    product = _tree(
        tmp_path,
        {
            "a/model.py": "import enum\nclass Role(enum.StrEnum):\n    X = 'x'\n",
            "b/auth.py": "from typing import Literal\nRole = Literal['x']\n",
            "c/reexport.py": "from a import model\nRole = model.Role\nSeverity: type = model.Role\n",
            "d/nested.py": "def f() -> None:\n    if True:\n        class Role:\n            pass\n",
        },
    )
    assert definitions(product, "Role") == ["a/model.py:2", "b/auth.py:2", "d/nested.py:3"]
    assert definitions(product, "Severity") == []


def test_self_finds_a_package_named_like_the_stdlib(tmp_path: Path) -> None:
    product = _tree(tmp_path, {"inspect/__init__.py": "", "inspector/__init__.py": ""})
    assert stdlib_shadow_problems(product) == ["inspect/ shadows the stdlib module `inspect`"]


def test_self_finds_a_data_package_that_imports_tem_or_is_no_package(tmp_path: Path) -> None:
    product = _tree(
        tmp_path,
        {
            "tem/__init__.py": "",
            "tem/core/__init__.py": "",
            "templates/__init__.py": "from pathlib import Path\nfrom . import labels\n",
            "templates/labels/__init__.py": "def f() -> None:\n    from tem.core import settings\n",
            "templates/pages/page.html": "",
        },
    )
    assert "templates" not in product.packages  # data, not product code
    assert data_package_problems(product) == ["templates/labels/__init__.py:2 → from tem.core import settings"]
    assert data_package_problems(product, frozenset({"pages"})) == [
        "pages/__init__.py is missing: without it pages/ does not install with Tem"
    ]


def test_self_finds_mypy_less_than_strict(tmp_path: Path) -> None:
    strict = _tree(
        tmp_path / "strict",
        {
            "pyproject.toml": (
                '[tool.mypy]\nstrict = true\nexclude = ["^tests/"]\n'
                '[[tool.mypy.overrides]]\nmodule = ["nacl.*"]\nignore_missing_imports = true\n'
            ),
            "pkg/__init__.py": '"""Doc."""\nx = 1  # type: ignore[assignment]\n',
        },
    )
    assert mypy_problems(strict) == []

    loose = _tree(
        tmp_path / "loose",
        {
            "pyproject.toml": (
                "[tool.mypy]\ndisallow_untyped_defs = true\nexclude = ['^pkg/legacy']\n"
                "[[tool.mypy.overrides]]\nmodule = ['pkg.a']\nignore_errors = true\n"
                "[[tool.mypy.overrides]]\nmodule = ['pkg.b']\nstrict = false\n"
                "[[tool.mypy.overrides]]\nmodule = ['pkg.c']\nwarn_return_any = false\n"
            ),
            "pkg/__init__.py": "# mypy: ignore-errors\n",
            "pkg/legacy.py": "# type: ignore\nx = 1\n",
        },
    )
    assert mypy_problems(loose) == [
        "[tool.mypy] must set `strict = true` (it has strict = None)",
        "[[tool.mypy.overrides]] module = ['pkg.a'] sets ignore_errors = true",
        "[[tool.mypy.overrides]] module = ['pkg.b'] sets strict = false",
        "[[tool.mypy.overrides]] module = ['pkg.c'] sets warn_return_any = false",
        "[tool.mypy] exclude = '^pkg/legacy' leaves out product files, e.g. pkg/legacy.py",
        "pkg/__init__.py:1 weakens mypy inline: # mypy: ignore-errors",
        "pkg/legacy.py:1 `# type: ignore` before the first statement silences the whole module",
    ]
