"""The package's shape: one subpackage per concern, imports running one way, thin rule
scripts, and a Snakefile that starts without the scientific stack."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPOSITORY

PACKAGE = REPOSITORY / "scripts" / "smanh"
RULES = REPOSITORY / "scripts" / "rules"
# Modules allowed beyond 450 lines: the numerical engines and the readers, one job each.
ENGINES = {"survival/cox.py", "survival/parametric.py", "survival/km.py", "survival/logistic.py",
           "progression/lmm.py", "ingest/readers.py"}
# The data's route: a subpackage may import only from those before it (and itself).
ROUTE = ["config", "ingest", "cohort", "survival", "progression", "external_control", "figures", "report"]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def smanh_imports(path: Path) -> list[tuple[str, ast.AST, bool]]:
    """(imported smanh module, node, at module level) of every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = set(map(id, tree.body))
    for node in tree.body:  # `if TYPE_CHECKING:` blocks count as module level
        if isinstance(node, ast.If):
            top |= set(map(id, node.body))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("smanh"):
            names = [f"{node.module}.{a.name}" for a in node.names]
            found += [(_existing_module(n), node, id(node) in top) for n in names]
        elif isinstance(node, ast.Import):
            found += [(a.name, node, id(node) in top) for a in node.names if a.name.startswith("smanh")]
    return found


def _existing_module(dotted: str) -> str:
    """``smanh.x.y.name`` -> the module it lives in (``smanh.x.y``) unless it is one."""
    path = PACKAGE.parent / Path(*dotted.split("."))
    if path.with_suffix(".py").exists() or (path / "__init__.py").exists():
        return dotted
    return dotted.rsplit(".", 1)[0]


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def test_no_import_circle():
    graph = {name: {m for m, _, _ in smanh_imports(path) if m != name and m in modules()}
             for name, path in modules().items()}
    visiting, done = [], set()

    def visit(name):
        if name in done:
            return
        assert name not in visiting, "import circle: " + " -> ".join(visiting[visiting.index(name):] + [name])
        visiting.append(name)
        for target in sorted(graph[name]):
            visit(target)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_imports_follow_the_data_route():
    """config -> ingest -> cohort -> survival / progression -> external_control -> figures
    -> report; the cross-cutting modules (errors, disclosure) and the job helpers (jobs)
    anywhere."""
    for name, path in modules().items():
        parts = name.split(".")
        if len(parts) < 3 or parts[1] not in ROUTE:
            continue
        own = ROUTE.index(parts[1])
        for target, node, _ in smanh_imports(path):
            sub = target.split(".")[1] if "." in target else ""
            if sub in ROUTE:
                assert ROUTE.index(sub) <= own or (parts[1], sub) in {
                    # figures drawn inside the survival, progression and external-control jobs
                    ("survival", "figures"), ("progression", "figures"), ("external_control", "figures"),
                }, f"{name} (line {node.lineno}) imports {target}: against the route"


def test_function_level_imports_are_deferred_on_purpose():
    """A `from smanh ...` inside a function only to defer a heavy import, with its reason."""
    for name, path in modules().items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for target, node, at_top in smanh_imports(path):
            if not at_top:
                assert "#" in lines[node.lineno - 1], (
                    f"{name} line {node.lineno}: function-level import of {target} without a reason")


def test_only_small_cross_cutting_modules_at_the_top():
    """errors.py, and disclosure/ (the cell rules in its __init__, the release of whole
    tables beside them): used everywhere, outside the data's route."""
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "errors.py"]
    assert (PACKAGE / "disclosure" / "__init__.py").exists()


def test_modules_stay_small_but_the_engines():
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        n = len(path.read_text(encoding="utf-8").splitlines())
        assert n <= 450 or relative in ENGINES, f"{relative}: {n} lines"


def test_rule_scripts_hold_no_table_logic():
    for path in RULES.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for word in ("groupby", "iloc", "pd.concat"):
            assert word not in text, f"{path.name} uses {word}: table logic belongs in the package"


def test_the_snakefile_imports_neither_numpy_nor_pandas():
    """What workflow/rules/common.smk imports, imported alone (as every Snakemake start does)."""
    common = (REPOSITORY / "workflow" / "rules" / "common.smk").read_text(encoding="utf-8")
    imports = re.findall(r"^from smanh\S* import .+$", common, re.M)
    assert imports
    code = "\n".join([f"import sys; sys.path.insert(0, {str(PACKAGE.parent)!r})", *imports,
                      "print(sorted(m for m in ('numpy', 'pandas', 'scipy') if m in sys.modules))"])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_tests_follow_the_package_folders():
    folders = {p.name for p in (REPOSITORY / "tests").iterdir() if p.is_dir() and p.name != "fixtures"}
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert folders - {"workflow"} <= subpackages
