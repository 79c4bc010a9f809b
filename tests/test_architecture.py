"""The limits every module of bulksync meets (docs/architecture.md), read from the source.

Nothing here imports bulksync's modules: each file is parsed with ``ast`` (and measured
with radon), so a module that does not import cleanly is still checked. Every failure
names the file, the line and the rule broken.

A new module must be given a layer in ``LAYERS`` below: that is the moment to decide
where it belongs, and which modules it may import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from radon.complexity import cc_visit
from radon.visitors import Class, Function

PACKAGE = Path(__file__).resolve().parents[1] / "bulksync"

MAX_LINES = 500
MAX_COMPLEXITY = 20

# The layers of docs/architecture.md: a module may import only from its own layer or a
# lower one. A name stands for the module and everything under it (``bulksync.sheets``
# covers ``bulksync.sheets.xlsx``); the longest matching name wins.
LAYERS: Mapping[str, int] = {
    # 0 foundations
    "bulksync.errors": 0,
    "bulksync.defaults": 0,
    "bulksync.model": 0,
    "bulksync.perf": 0,
    "bulksync.private": 0,
    "bulksync.stats": 0,
    "bulksync.version": 0,
    # 1 types & wire
    "bulksync.codecs": 1,
    "bulksync.baseurl": 1,
    "bulksync.apikey": 1,
    "bulksync.pacing": 1,
    "bulksync.responses": 1,
    # 2 values & client
    "bulksync.snapshot": 2,
    "bulksync.client": 2,
    "bulksync.sender": 2,
    # 3 plan values & reads
    "bulksync.plans": 3,
    "bulksync.issues": 3,
    "bulksync.launch": 3,
    "bulksync.fetch": 3,
    "bulksync.spool": 3,
    "bulksync.sandbox": 3,
    # 4 sheets
    "bulksync.sheets": 4,
    # 5 planning
    "bulksync.validate": 5,
    "bulksync.diff": 5,
    "bulksync.launch_plan": 5,
    "bulksync.rundir": 5,
    "bulksync.exporter": 5,
    # 6 acting
    "bulksync.journal": 6,
    "bulksync.patching": 6,
    "bulksync.apply": 6,
    "bulksync.launch_apply": 6,
    "bulksync.launch_rows": 6,
    "bulksync.undo": 6,
    "bulksync.results": 6,
    "bulksync.annotate": 6,
    # 7 rendering & config
    "bulksync.report": 7,
    "bulksync.config": 7,
    # 8 shell
    "bulksync.cli": 8,
    "bulksync.workflow": 8,
    "bulksync.frames": 7,
}
LAYER_NAMES = {
    0: "foundations",
    1: "types & wire",
    2: "values & client",
    3: "plan values & reads",
    4: "sheets",
    5: "planning",
    6: "acting",
    7: "rendering & config",
    8: "shells: the CLI and the library's three calls",
}
# The public surface and the entry point sit above every layer and may import anything.
EXEMPT = frozenset({"bulksync", "bulksync.__main__"})

# Imports the layers allow but the design forbids (importer, imported, at import time only).
FORBIDDEN: tuple[tuple[str, str, bool, str], ...] = (
    (
        "bulksync.snapshot",
        "bulksync.client",
        False,
        "snapshot holds values only; reading them over HTTP belongs to bulksync.fetch",
    ),
    (
        "bulksync.config",
        "bulksync.sandbox",
        True,
        "config must not import the sandbox at import time; import it inside the "
        "function that opens it",
    ),
)

# Only the shell talks to the terminal or ends the process; the library never prints.
SHELL = ("bulksync.cli", "bulksync.__main__")
PRINTING = frozenset(
    {
        "print",
        "exit",
        "quit",
        "sys.exit",
        "os._exit",
        "click.echo",
        "click.secho",
        "sys.stdout.write",
        "sys.stderr.write",
    }
)


@dataclass(frozen=True)
class Violation:
    path: Path
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        try:
            shown = self.path.relative_to(PACKAGE.parent)
        except ValueError:
            shown = self.path
        return f"{shown}:{self.line}: [{self.rule}] {self.message}"


@dataclass(frozen=True)
class Import:
    line: int
    target: str
    context: str  # "", "inside a function", "under TYPE_CHECKING"

    @property
    def at_import_time(self) -> bool:
        return self.context == ""


# -- reading the tree -------------------------------------------------------------------


def modules(package: Path) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    found: dict[str, Path] = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def layer_of(module: str, table: Mapping[str, int] = LAYERS) -> int | None:
    """The layer of the longest name in ``table`` that is ``module`` or contains it."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        layer = table.get(".".join(parts[:end]))
        if layer is not None:
            return layer
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, context: str) -> Iterator[tuple[ast.AST, str]]:
    """Every node under ``node``, with where it runs: at import time or not."""
    for child in ast.iter_child_nodes(node):
        inner = context
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            inner = context or "inside a function"
        yield child, context
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield stmt, "under TYPE_CHECKING"
                yield from _walk(stmt, "under TYPE_CHECKING")
            for stmt in child.orelse:
                yield stmt, context
                yield from _walk(stmt, context)
            continue
        yield from _walk(child, inner)


def imports_of(module: str, path: Path, known: Mapping[str, Path]) -> Iterator[Import]:
    """bulksync modules that ``module`` imports, wherever the import statement is."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node, context in _walk(tree, ""):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "bulksync" or alias.name.startswith("bulksync."):
                    yield Import(node.lineno, alias.name, context)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            if source != "bulksync" and not source.startswith("bulksync."):
                continue
            targets = []
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                targets.append(submodule if submodule in known else source)
            for target in dict.fromkeys(targets):
                yield Import(node.lineno, target, context)


# -- the checks (each returns what breaks its rule) --------------------------------------


def long_modules(package: Path, limit: int = MAX_LINES) -> list[Violation]:
    found = []
    for path in modules(package).values():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > limit:
            found.append(
                Violation(
                    path,
                    lines,
                    f"at most {limit} lines a module",
                    f"{lines} lines; split it by what its parts own (docs/architecture.md)",
                )
            )
    return found


def _functions(blocks: list[Function] | list[Function | Class]) -> Iterator[Function]:
    """Functions, methods and closures; cc_visit lists methods beside their class, but
    neither closures nor the methods of a class inside a class."""
    for block in blocks:
        if isinstance(block, Function):
            yield block
            yield from _functions(block.closures)
        else:
            for inner in block.inner_classes:
                yield from _methods(inner)


def _methods(cls: Class) -> Iterator[Function]:
    yield from _functions(cls.methods)
    for inner in cls.inner_classes:
        yield from _methods(inner)


def complex_functions(package: Path, limit: int = MAX_COMPLEXITY) -> list[Violation]:
    found = []
    for path in modules(package).values():
        for function in _functions(cc_visit(path.read_text(encoding="utf-8"))):
            if function.complexity > limit:
                name = function.fullname if function.is_method else function.name
                found.append(
                    Violation(
                        path,
                        function.lineno,
                        f"cyclomatic complexity at most {limit} (radon)",
                        f"{name}() has complexity {function.complexity}; split it so that "
                        "each part does one thing",
                    )
                )
    return found


def unplaced_modules(package: Path, table: Mapping[str, int] = LAYERS) -> list[Violation]:
    return [
        Violation(
            path,
            1,
            "every module has a layer",
            f"{module} is in no layer: place it in LAYERS in tests/test_architecture.py "
            "(and in the layer table of docs/architecture.md), at the layer of what it "
            "owns, so that it imports only from its own layer or lower ones",
        )
        for module, path in modules(package).items()
        if module not in EXEMPT and layer_of(module, table) is None
    ]


def _describe(layer: int) -> str:
    return f"layer {layer}, {LAYER_NAMES.get(layer, '?')}"


def upward_imports(package: Path, table: Mapping[str, int] = LAYERS) -> list[Violation]:
    known = modules(package)
    found = []
    for module, path in known.items():
        here = layer_of(module, table)
        if module in EXEMPT or here is None:
            continue  # unplaced modules are unplaced_modules' to report
        for imported in imports_of(module, path, known):
            where = f" ({imported.context})" if imported.context else ""
            if imported.target in EXEMPT:
                found.append(
                    Violation(
                        path,
                        imported.line,
                        "imports go to the same or a lower layer",
                        f"{module} ({_describe(here)}) imports {imported.target}{where}, the "
                        "public surface above every layer; import from the module that "
                        "defines the name",
                    )
                )
                continue
            there = layer_of(imported.target, table)
            if there is not None and there > here:
                found.append(
                    Violation(
                        path,
                        imported.line,
                        "imports go to the same or a lower layer",
                        f"{module} ({_describe(here)}) imports {imported.target} "
                        f"({_describe(there)}){where}; move what it needs down, or pass it "
                        "in as a value or a callback",
                    )
                )
    return found


def forbidden_imports(package: Path) -> list[Violation]:
    known = modules(package)
    found = []
    for importer, imported_name, at_import_time_only, why in FORBIDDEN:
        for module, path in known.items():
            if module != importer and not module.startswith(importer + "."):
                continue
            for imported in imports_of(module, path, known):
                hit = imported.target == imported_name or imported.target.startswith(
                    imported_name + "."
                )
                if hit and (imported.at_import_time or not at_import_time_only):
                    found.append(
                        Violation(
                            path,
                            imported.line,
                            f"{importer} does not import {imported_name}",
                            f"{module} imports {imported.target}: {why}",
                        )
                    )
    return found


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def printing_calls(package: Path) -> list[Violation]:
    found = []
    for module, path in modules(package).items():
        if module == "bulksync" or any(
            module == shell or module.startswith(shell + ".") for shell in SHELL
        ):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _dotted(node.func) in PRINTING:
                found.append(
                    Violation(
                        path,
                        node.lineno,
                        "the library never prints or exits",
                        f"{module} calls {_dotted(node.func)}(); report through a return "
                        "value, an exception or a progress callback, and let bulksync.cli "
                        "write and exit",
                    )
                )
    return found


def _assert_none(found: list[Violation]) -> None:
    assert not found, f"{len(found)} problem(s):\n" + "\n".join(map(str, found))


# -- the rules, on bulksync itself ------------------------------------------------------


def test_the_package_is_where_the_checks_look():
    assert "bulksync.errors" in modules(PACKAGE)  # else every check below passes on nothing


def test_no_module_is_over_500_lines():
    _assert_none(long_modules(PACKAGE))


def test_no_function_is_over_cyclomatic_complexity_20():
    _assert_none(complex_functions(PACKAGE))


def test_every_module_has_a_layer():
    _assert_none(unplaced_modules(PACKAGE))


def test_imports_go_to_the_same_or_a_lower_layer():
    _assert_none(upward_imports(PACKAGE))


def test_the_imports_the_design_forbids_within_a_layer_are_absent():
    _assert_none(forbidden_imports(PACKAGE))


def test_the_library_never_prints_or_exits():
    _assert_none(printing_calls(PACKAGE))


# -- the checks themselves, on a small tree that breaks every rule ----------------------

COMPLEX = "def tangled(x):\n" + "".join(
    f"    if x == {i}:\n        return {i}\n" for i in range(25)
)


@pytest.fixture
def bad_tree(tmp_path: Path) -> Path:
    files = {
        "__init__.py": "from bulksync.cli import main\n",
        "__main__.py": "from bulksync.cli import main\nmain()\n",
        "errors.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from bulksync.sheets import Sheet\n"
        ),
        "model.py": "def f():\n    import bulksync.apply\n",
        "plans.py": (
            "from bulksync import Plan\nfrom . import errors\nfrom bulksync import __version__\n"
        ),
        "snapshot.py": "from bulksync.client import NextStepClient\n",
        "client.py": "from bulksync.errors import ConfigError\n",
        "config.py": (
            "from bulksync.sandbox import open_sandbox\n"
            "def later():\n"
            "    from bulksync.sandbox import sandbox_client\n"
        ),
        "sandbox/__init__.py": "from .app import Sandbox\nfrom ..sheets import read\n",
        "sandbox/app.py": "class Sandbox:\n    pass\n",
        "sheets/__init__.py": "from bulksync.errors import SheetError\n",
        "apply.py": "\n" * 501,
        "diff.py": COMPLEX,
        "mystery.py": "import bulksync.errors\n",
        "journal.py": "import sys\ndef log(x):\n    print(x)\n    sys.exit(3)\n",
        "cli/__init__.py": "import click\ndef main():\n    click.echo('fine here')\n",
    }
    for name, text in files.items():
        path = tmp_path / "bulksync" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path / "bulksync"


def _where(violations: list[Violation], package: Path) -> set[tuple[str, int]]:
    return {(v.path.relative_to(package).as_posix(), v.line) for v in violations}


def test_a_long_module_is_caught(bad_tree):
    found = long_modules(bad_tree)
    assert _where(found, bad_tree) == {("apply.py", 501)}
    assert "[at most 500 lines a module] 501 lines" in str(found[0])


def test_a_complex_function_is_caught(bad_tree):
    found = complex_functions(bad_tree)
    assert _where(found, bad_tree) == {("diff.py", 1)}
    assert "tangled() has complexity 26" in str(found[0])


def test_an_unplaced_module_is_caught(bad_tree):
    found = unplaced_modules(bad_tree)
    assert _where(found, bad_tree) == {("mystery.py", 1)}
    assert "place it in LAYERS in tests/test_architecture.py" in str(found[0])


def test_upward_imports_are_caught_wherever_they_are(bad_tree):
    found = upward_imports(bad_tree)
    assert _where(found, bad_tree) == {
        ("errors.py", 3),  # under TYPE_CHECKING
        ("model.py", 2),  # inside a function
        ("plans.py", 1),  # the public surface
        ("plans.py", 3),  # the public surface, for its version too (bulksync.version has it)
        ("sandbox/__init__.py", 2),  # a relative import
    }
    messages = "\n".join(map(str, found))
    assert (
        "bulksync/errors.py:3: [imports go to the same or a lower layer] bulksync.errors "
        "(layer 0, foundations) imports bulksync.sheets (layer 4, sheets) "
        "(under TYPE_CHECKING)" in messages
    )
    assert "imports bulksync.apply (layer 6, acting) (inside a function)" in messages
    assert "bulksync.sandbox (layer 3, plan values & reads) imports bulksync.sheets" in messages


def test_the_forbidden_imports_are_caught(bad_tree):
    found = forbidden_imports(bad_tree)
    # config's import inside a function is allowed: it does not run at import time.
    assert _where(found, bad_tree) == {("snapshot.py", 1), ("config.py", 1)}


def test_printing_in_the_library_is_caught_and_allowed_in_the_cli(bad_tree):
    found = printing_calls(bad_tree)
    assert _where(found, bad_tree) == {("journal.py", 3), ("journal.py", 4)}
    assert "bulksync.journal calls sys.exit()" in "\n".join(map(str, found))


def test_a_clean_tree_passes(bad_tree):
    for name in ("apply.py", "diff.py", "mystery.py", "journal.py", "model.py", "errors.py"):
        (bad_tree / name).write_text("from bulksync.errors import BulksyncError\n")
    (bad_tree / "plans.py").write_text("from . import errors\n")
    (bad_tree / "snapshot.py").write_text("from bulksync.model import Run\n")
    (bad_tree / "config.py").write_text("def later():\n    import bulksync.sandbox\n")
    (bad_tree / "sandbox/__init__.py").write_text("from .app import Sandbox\n")
    (bad_tree / "mystery.py").unlink()
    for check in (
        long_modules,
        complex_functions,
        unplaced_modules,
        upward_imports,
        forbidden_imports,
        printing_calls,
    ):
        assert check(bad_tree) == [], check.__name__
