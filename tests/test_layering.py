"""The package layering, checked on every import statement (function-level ones included).

Imports run one way: ``kernels`` <- ``models`` <- ``optimizer`` core (errors, timings, score) <-
``optimizer.lp`` <- plans (accounting, summary, plan) <- ``optimizer.study``, ``optimizer.decide`` <-
``optimizer.report`` <- ``optimizer.api`` <- ``optimizer.cli``. No import cycles. TOML is read
only in ``models/documents.py``; output files are written only in ``optimizer/report/``; only
the ``optimizer/cli/`` package talks to the terminal.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("kernels", "models", "optimizer")

#: Layer of each module, by longest matching prefix: a module imports only from layers <= its own.
LAYERS = {
    "kernels": 0,
    "models": 1,
    "optimizer.errors": 2,
    "optimizer.timings": 2,
    "optimizer.score": 2,
    "optimizer.lp": 3,
    "optimizer.accounting": 4,
    "optimizer.summary": 4,
    "optimizer.plan": 4,
    "optimizer.study": 5,
    "optimizer.decide": 5,
    "optimizer.report": 6,
    "optimizer.api": 7,
    "optimizer.cli": 8,
    "optimizer.__main__": 8,
    "optimizer": 2,  # the package face itself
}

#: Calls that write files, allowed only under optimizer/report/.
WRITERS = re.compile(
    r"\.(to_csv|to_parquet|to_excel|write_text|write_bytes|savefig|writeLP|writeMPS|writeModel)\("
    r"|os\.replace\(|tempfile\.mkstemp\("
)
TERMINAL = re.compile(r"\bprint\(|click\.echo\(|sys\.std(out|err)\b")


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of our packages under ``root``."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def layer(module: str) -> int:
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in LAYERS:
            return LAYERS[".".join(parts[:i])]
    raise KeyError(f"{module}: no layer (add it to LAYERS)")


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Our modules that ``name`` imports anywhere in its file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name and t.split(".")[0] in PACKAGES:
                found.add(t)
    return found


def problems(root: Path) -> list[str]:
    """Every layering problem under ``root`` (empty when the tree is clean)."""
    known = modules(root)
    graph = {name: imports(name, path, known) for name, path in known.items()}
    out = []
    for name, targets in graph.items():
        for t in sorted(targets):
            if layer(t) > layer(name):
                out.append(f"{name} (layer {layer(name)}) imports {t} (layer {layer(t)})")
    # cycles among modules (package faces re-export, so they are skipped as edges' targets)
    faces = {n for n, p in known.items() if p.name == "__init__.py"}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node] - faces):
            if state.get(nxt) == 1:
                out.append("import cycle: " + " -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state and node not in faces:
            visit(node, [node])
    for name, path in known.items():
        text = path.read_text(encoding="utf-8")
        if re.search(r"tomllib\.load\(", text) and name != "models.documents":
            out.append(f"{name} reads TOML (only models.documents does)")
        if WRITERS.search(text) and not name.startswith("optimizer.report"):
            out.append(f"{name} writes files (only optimizer.report does)")
        if TERMINAL.search(text) and not (
            name == "optimizer.cli" or name.startswith("optimizer.cli.")
        ):
            out.append(f"{name} talks to the terminal (only optimizer.cli does)")
    return out


def test_the_repository_is_layered():
    assert problems(REPO) == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("models/bad.py", "from optimizer.plan import Plan\n", "models.bad (layer 1) imports"),
        ("kernels/bad.py", "def f():\n    import models\n", "kernels.bad (layer 0) imports"),
        ("optimizer/lp/bad.py", "from optimizer.report import files\n", "imports optimizer.report"),
        ("optimizer/score.py", "import pandas\nx.to_csv('a')\n", "optimizer.score writes files"),
    ],
)
def test_the_check_catches_wrong_way_imports_and_misplaced_io(tmp_path, module, source, expected):
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "optimizer" / "lp").mkdir()
    (tmp_path / "optimizer" / "lp" / "__init__.py").write_text("")
    (tmp_path / "optimizer" / "report").mkdir()
    (tmp_path / "optimizer" / "report" / "files.py").write_text("")
    (tmp_path / "optimizer" / "plan.py").write_text("")
    (tmp_path / module).write_text(source)
    found = problems(tmp_path)
    assert any(expected in p for p in found), found


def test_the_check_catches_a_cycle_through_a_function_level_import(tmp_path):
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "models" / "a.py").write_text("def f():\n    from models import b\n")
    (tmp_path / "models" / "b.py").write_text("from models.a import f\n")
    assert problems(tmp_path) == ["import cycle: models.a -> models.b -> models.a"]
