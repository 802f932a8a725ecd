"""demo/ sits at the top of the layers (architecture.md, issue 21): no domain app imports it, so
the trial's code runs the same whether or not the demo is there."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
DOMAIN_APPS = ["accounts", "core", "sites", "patients", "randomisation", "crf", "safety", "reports", "nelmas"]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("app", DOMAIN_APPS)
def test_no_domain_app_imports_demo(app):
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / app).rglob("*.py")
        if any(name == "demo" or name.startswith("demo.") for name in _imports(path))
    ]
    assert offenders == []


def test_the_scan_sees_an_import_of_demo(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from demo.simulation import simulate_trial\n")
    assert "demo.simulation" in _imports(module)
