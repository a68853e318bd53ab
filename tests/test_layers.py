"""The wings' import rules, checked from the source: a lower wing never imports a higher one.

Every import counts, including those inside functions (deferred for speed, but still a
dependency). Wings on the same layer are peers and may not import each other either.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import slopscore

# Lowest first. A module may import its own wing and any wing on an earlier layer.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("media",),
    ("provenance", "embedding"),
    ("signals",),
    ("model",),
    ("config",),
    ("batch",),
    ("evaluation",),
    ("training",),
    ("review", "benchmark"),
    ("delivery",),
    ("web", "analytics", "terminal"),
    ("demo",),
    ("cli",),
)
PACKAGE = Path(slopscore.__file__).resolve().parent


def _layer_of(wing: str) -> int:
    for rank, wings in enumerate(LAYERS):
        if wing in wings:
            return rank
    raise KeyError(wing)


def _wing(module: str) -> str | None:
    """``slopscore.signals.portfolio`` -> ``signals``; the root and its private modules -> None."""
    parts = module.split(".")
    if parts[0] != "slopscore" or len(parts) == 1 or parts[1].startswith("_"):
        return None
    return parts[1]


def _module_name(path: Path, package_dir: Path) -> str:
    relative = path.relative_to(package_dir.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported_modules(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # `from slopscore import batch` names a wing, not the root
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names
                      if target == "slopscore"]
    return [(line, name) for line, name in found if name.split(".")[0] == "slopscore"]


def import_violations(package_dir: Path) -> list[str]:
    """Every import in ``package_dir`` that breaks :data:`LAYERS`, as readable lines."""
    problems = []
    for path in sorted(package_dir.rglob("*.py")):
        module = _module_name(path, package_dir)
        wing = _wing(module)
        if wing is None:  # the package root imports no wing
            rank = -1
        else:
            try:
                rank = _layer_of(wing)
            except KeyError:
                problems.append(f"{path.relative_to(package_dir)}: wing {wing!r} is in no layer")
                continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, target in _imported_modules(tree, module, path.name == "__init__.py"):
            other = _wing(target)
            if other is None or other == wing:
                continue
            if other not in {w for layer in LAYERS for w in layer}:
                if (package_dir / other).is_dir() or (package_dir / f"{other}.py").is_file():
                    problems.append(f"{path.relative_to(package_dir)}:{line}: {target}: wing {other!r} is in no layer")
                continue
            if _layer_of(other) >= rank:
                problems.append(f"{path.relative_to(package_dir)}:{line} ({wing or 'root'}) imports "
                                f"{target} ({other}): not below it")
    return problems


def test_no_wing_imports_a_higher_or_peer_wing():
    assert import_violations(PACKAGE) == []


def test_every_folder_and_top_module_is_a_wing_in_a_layer():
    known = {w for layer in LAYERS for w in layer}
    found = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    found |= {p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("_")}
    assert found == known


def test_each_wing_says_what_it_does_and_what_it_may_import():
    for wing in (p for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()):
        doc = ast.get_docstring(ast.parse((wing / "__init__.py").read_text()))
        assert doc and "May import" in doc, f"{wing.name}/__init__.py must say what it may import"


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    package = tmp_path / "slopscore"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


@pytest.mark.parametrize("source", [
    "from slopscore.review.schema import QueueItem\n",
    "import slopscore.review.schema\n",
    "from slopscore import review\n",
    "def later():\n    from slopscore.review import schema\n",
    "from ..review import schema\n",
])
def test_a_lower_wing_importing_a_higher_one_is_reported(tmp_path, source):
    package = _tree(tmp_path, {"__init__.py": "", "media/__init__.py": "", "media/decode.py": source,
                               "review/__init__.py": "", "review/schema.py": ""})
    problems = import_violations(package)
    assert len(problems) == 1 and "media/decode.py" in problems[0] and "review" in problems[0]


def test_peers_may_not_import_each_other_but_lower_wings_are_fine(tmp_path):
    package = _tree(tmp_path, {
        "__init__.py": "", "media/__init__.py": "", "media/decode.py": "",
        "embedding/__init__.py": "", "provenance/__init__.py": "",
        "embedding/encoder.py": "from slopscore.media.decode import x\nfrom . import cache\n",
        "provenance/reader.py": "from slopscore.embedding.encoder import y\n",
    })
    problems = import_violations(package)
    assert len(problems) == 1 and problems[0].startswith("provenance/reader.py:1")
