"""The package's shape, measured on the source: the layering and one public/private convention.

* Layering: each package imports only the packages below it (``hal9.core`` nothing; nothing imports
  ``hal9.cli``), so a library user never pulls in the applications built on it.
* Public names: a name imported across packages is public where it comes from. From a library package
  (core, selforg, metrics, tactical, tracking, viz) it must be in the package's ``__all__``; from an
  application package (experiments, serve) in its module's ``__all__``, and never from a ``_private``
  module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "hal9"
LIBRARY = ("core", "selforg", "metrics", "tactical", "learn", "tracking", "viz")
#: What each package may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "selforg": {"core"},
    "metrics": {"core"},
    "tactical": {"core"},
    "learn": {"core"},
    "tracking": {"core"},
    "viz": {"core", "selforg", "metrics", "tactical"},
    "experiments": {"core", "selforg", "metrics", "tactical", "learn", "tracking", "viz"},
    "serve": {"core", "selforg", "metrics", "tactical", "learn", "tracking", "viz", "experiments"},
    "cli": {"core", "selforg", "metrics", "tactical", "learn", "tracking", "viz", "experiments", "serve"},
    "__init__": {"core"},
}


def _package(path: Path) -> str:
    parts = path.relative_to(ROOT).parts
    return parts[0] if len(parts) > 1 else "__init__"


def _all_of(path: Path) -> set[str] | None:
    if not path.exists():
        return None
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return {e.value for e in node.value.elts if isinstance(e, ast.Constant)}  # type: ignore[attr-defined]
    return None


def _imports() -> list[tuple[Path, int, str, str]]:
    """(file, line, module, name) of every ``from hal9.x... import name`` in the package."""
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hal9."):
                out.extend((path, node.lineno, node.module, a.name) for a in node.names)
            elif isinstance(node, ast.Import):
                out.extend((path, node.lineno, a.name, "") for a in node.names if a.name.startswith("hal9."))
    return out


def test_every_package_is_in_the_layering_table() -> None:
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(ALLOWED), f"add {packages - set(ALLOWED)} to ALLOWED"


def test_packages_import_only_the_layers_below_them() -> None:
    bad = []
    for path, line, module, _name in _imports():
        src, target = _package(path), module.split(".")[1]
        if target != src and target not in ALLOWED[src]:
            bad.append(f"{path.relative_to(ROOT.parent)}:{line}: {src} imports {module}")
    assert not bad, "imports against the layering:\n" + "\n".join(sorted(set(bad)))


def test_names_imported_across_packages_are_public_where_they_come_from() -> None:
    bad = []
    for path, line, module, name in _imports():
        parts = module.split(".")
        src, target = _package(path), parts[1]
        if target == src or not name:
            continue
        where = f"{path.relative_to(ROOT.parent)}:{line}: {module}.{name}"
        if any(p.startswith("_") for p in parts[2:]) or name.startswith("_"):
            bad.append(f"{where} (private)")
            continue
        if target in LIBRARY:
            exported = _all_of(ROOT / target / "__init__.py") or set()
            if name not in exported:
                bad.append(f"{where} (not in hal9.{target}.__all__)")
        elif len(parts) > 2:
            module_all = _all_of(ROOT.joinpath(*parts[1:]).with_suffix(".py"))
            if module_all is None:
                module_all = _all_of(ROOT.joinpath(*parts[1:]) / "__init__.py") or set()
            if name not in module_all:
                bad.append(f"{where} (not in {module}.__all__)")
    assert not bad, "cross-package imports of non-public names:\n" + "\n".join(bad)


@pytest.mark.parametrize("package", LIBRARY)
def test_library_packages_export_only_what_exists(package: str) -> None:
    import importlib

    mod = importlib.import_module(f"hal9.{package}")
    missing = [n for n in mod.__all__ if not hasattr(mod, n)]
    assert not missing, f"hal9.{package}.__all__ names missing attributes: {missing}"
