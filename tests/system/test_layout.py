"""The layout: imports run only down the pipeline's floors, there are no import circles, and an import
inside a function says why it is there (start-up time), all read from the code itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Each floor may import the floors below it (and its own package); nothing may import upwards.
FLOORS = [
    {"specs", "errors", "device", "jobs", "exclusive", "resources"},
    {"embedded", "compression"},
    {"model", "store"},
    {"sae"},
    {"tokens"},
    {"evals", "features"},
    {"pipeline"},
    {"cluster"},
    {"report", "bench", "embedded_build"},
    {"cli"},
    {"__init__", "__main__"},
    {"ui"},
    {"views", "app"},
]
FLOOR = {unit: i for i, units in enumerate(FLOORS) for unit in units}
GROUND = FLOORS[0]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def unit_of(module: str) -> str:
    """The package (or ground-floor module) a module belongs to: saeviz.sae.prune -> sae, ui.jobs -> ui."""
    parts = module.split(".")
    if parts[0] != "saeviz":
        return parts[0]
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def project_files() -> list[Path]:
    return sorted([*ROOT.glob("saeviz/**/*.py"), *ROOT.glob("ui/*.py"), *ROOT.glob("views/*.py"), ROOT / "app.py"])


def _resolve(importer: str, node: ast.ImportFrom) -> list[str]:
    base = node.module or ""
    if node.level:
        pkg = importer.split(".")[: -node.level] if not importer.endswith("__init__") else importer.split(".")
        base = ".".join([*pkg, base] if base else pkg)
    # `from saeviz.store import keys` imports the module saeviz.store.keys
    return [f"{base}.{a.name}" if _is_module(f"{base}.{a.name}") else base for a in node.names]


def _is_module(name: str) -> bool:
    path = ROOT / Path(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported project module, line, inside a function) for every import of project code in a file,
    including the registry's "module:attribute" strings (saeviz.evals.EVALS)."""
    tree = ast.parse(path.read_text())
    importer = module_name(path)
    in_function = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = _resolve(importer, node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("saeviz.") \
                and ":" in node.value and _is_module(node.value.split(":")[0]):
            found.append((node.value.split(":")[0], node.lineno, True))
            continue
        else:
            continue
        for name in names:
            if name.split(".")[0] in ("saeviz", "ui", "views") and _is_module(name):
                found.append((name, node.lineno, id(node) in in_function))
    return found


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in project_files():
        edges.setdefault(module_name(path), set()).update(m for m, _, _ in imports(path))
    return edges


def test_no_import_runs_up_the_floors():
    upward = []
    for path in project_files():
        importer = module_name(path)
        for imported, line, _ in imports(path):
            a, b = unit_of(importer), unit_of(imported)
            if a == b or b == "__init__" and imported == "saeviz":
                continue
            if FLOOR[b] > FLOOR[a] or (FLOOR[b] == FLOOR[a] and a not in GROUND):
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {imported} ({b} is not below {a})")
    assert not upward, "\n".join(upward)


def test_every_package_is_on_a_floor_and_says_what_it_owns():
    units = {unit_of(module_name(p)) for p in project_files()}
    assert units <= set(FLOOR), units - set(FLOOR)
    for init in ROOT.glob("saeviz/*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "import" in doc and len(doc) > 80, f"{init.relative_to(ROOT)}: say what it owns and what it may import"


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10_000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles_even_through_imports_inside_functions():
    edges = graph()
    # a package's __init__ is imported by every module under it: only its own imports count
    for name in edges:
        edges[name] = {m for m in edges[name] if not (name.startswith(m + ".") and (ROOT / Path(*m.split("."))).is_dir())}
    assert not _cycles(edges), _cycles(edges)


def test_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def lazy_imports_without_reason(path: Path) -> list[str]:
    """Imports inside functions whose line, or the comment just above their block of imports, lacks
    '# lazy: <why>'."""
    lines = path.read_text().splitlines()
    tree = ast.parse("\n".join(lines))
    bad = []
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        nodes = [n for n in ast.walk(func) if isinstance(n, (ast.Import, ast.ImportFrom))]
        import_lines = {i for n in nodes for i in range(n.lineno, n.end_lineno + 1)}
        for node in nodes:
            if "# lazy:" in " ".join(lines[node.lineno - 1: node.end_lineno]):
                continue
            above = node.lineno - 1  # 1-based number of the line above the statement
            while above in import_lines or (above > 0 and not lines[above - 1].strip()):
                above -= 1  # the imports of one block (blank lines between them) share one reason
            comment = lines[above - 1].strip() if above > 0 else ""
            if not (comment.startswith("# lazy:") and len(comment) > len("# lazy: ") + 3):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} {lines[node.lineno - 1].strip()}")
    return bad


def test_imports_inside_functions_give_their_reason():
    bad = [b for path in project_files() for b in lazy_imports_without_reason(path)]
    assert not bad, "an import inside a function needs '# lazy: <why>' (start-up time), or belongs at the top:\n" + "\n".join(bad)


def test_lazy_reason_check_tells_a_reason_from_none(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    ok = tmp_path / "ok.py"
    ok.write_text("def f():\n    # lazy: torch takes 2 s to import\n    import torch\n    from x import (\n        y,\n    )\n"
                  "    return torch\n")
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    import torch\n    return torch\n")
    assert lazy_imports_without_reason(ok) == []
    assert lazy_imports_without_reason(bad) == ["bad.py:2 import torch"]
