"""No function-local imports in product code unless a comment says why.

Source of the rule: issue 21, item 5 — "no function-local imports except to break a real cycle
(commented)". An import inside a function body hides a module's dependencies from its top, from
``lint-imports`` readers and from whoever reorders the code. It stays only with a reason written
next to it: a real import cycle (named), a heavy optional dependency loaded only for the output that
needs it (pandas, pyreadstat, weasyprint), or ``AppConfig.ready()``, the place Django documents for
imports that need the app registry loaded (one comment anywhere in that ``ready()`` is enough).

Where the reason may be: a comment on the import's own line(s) or on a comment-only line just above
it. A bare lint pragma (``# noqa: F401``) is not a reason. Migrations are generated and skipped.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT_PACKAGES = (
    "accounts",
    "core",
    "sites",
    "patients",
    "randomisation",
    "crf",
    "safety",
    "reports",
    "demo",
    "nelmas",
)

# A comment made only of tool directives says nothing about why the import is local.
_PRAGMA = re.compile(
    r"(noqa(:\s*[A-Z]+[0-9]+(\s*,\s*[A-Z]+[0-9]+)*)?|type:\s*ignore(\[[^\]]*\])?|pragma:.*|fmt:.*|isort:.*)"
)


def _reason_comments(source: str) -> tuple[set[int], set[int]]:
    """(lines holding a reason comment, those of them that hold nothing but the comment)."""
    lines = source.splitlines()
    any_line, own_line = set(), set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT:
            continue
        text = token.string.lstrip("#").strip()
        # A pragma followed by words ("noqa: F401 - apps loaded"): the words are the reason.
        text = _PRAGMA.sub("", text, count=1).strip(" -:;,") if _PRAGMA.match(text) else text
        if not text:
            continue
        row = token.start[0]
        any_line.add(row)
        if lines[row - 1].lstrip().startswith("#"):
            own_line.add(row)
    return any_line, own_line


def _is_app_ready(node: ast.AST, parent: ast.AST | None) -> bool:
    """``ready`` defined directly in a class deriving from (something named) AppConfig."""
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or node.name != "ready":
        return False
    if not isinstance(parent, ast.ClassDef):
        return False
    for base in parent.bases:
        name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
        if name == "AppConfig":
            return True
    return False


def uncommented_local_imports(source: str, filename: str = "<source>") -> list[str]:
    """``file:line: statement`` of every import inside a function body without a reason beside it."""
    tree = ast.parse(source, filename)
    any_line, own_line = _reason_comments(source)
    problems: list[str] = []

    def visit(node: ast.AST, parent: ast.AST | None, in_function: bool, ready: ast.AST | None) -> None:
        for child in ast.iter_child_nodes(node):
            child_ready = child if _is_app_ready(child, node) else ready
            child_in_function = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if in_function and isinstance(child, ast.Import | ast.ImportFrom):
                first, last = child.lineno, child.end_lineno or child.lineno
                beside = any(row in any_line for row in range(first, last + 1)) or (first - 1) in own_line
                in_commented_ready = ready is not None and any(
                    ready.lineno <= row <= (ready.end_lineno or ready.lineno) for row in any_line
                )
                if not (beside or in_commented_ready):
                    statement = source.splitlines()[first - 1].strip()
                    problems.append(f"{filename}:{first}: {statement}")
            visit(child, node, child_in_function, child_ready)

    visit(tree, None, False, None)
    return problems


def _product_files() -> list[Path]:
    files = []
    for package in PRODUCT_PACKAGES:
        found = [p for p in sorted((ROOT / package).rglob("*.py")) if "migrations" not in p.parts]
        assert found, f"no Python files under {package}/: the scan would pass without looking"
        files += found
    return files


def test_product_code_has_no_uncommented_function_local_import():
    problems = []
    for path in _product_files():
        problems += uncommented_local_imports(path.read_text(), str(path.relative_to(ROOT)))
    assert problems == [], (
        "Imports inside functions without a reason: move them to the module top, or say on the line "
        "above why they must stay (the import cycle, the heavy optional dependency, or ready()):\n"
        + "\n".join(problems)
    )


# The checker itself, on hand-written snippets: each case is the rule above read literally.


def test_an_uncommented_import_in_a_function_is_reported():
    source = "def f():\n    import os\n    return os.sep\n"
    assert uncommented_local_imports(source) == ["<source>:2: import os"]


def test_an_import_in_a_method_or_nested_function_is_reported():
    source = (
        "class A:\n"
        "    def m(self):\n"
        "        def inner():\n"
        "            from json import dumps\n"
        "            return dumps\n"
        "        return inner\n"
    )
    assert uncommented_local_imports(source) == ["<source>:4: from json import dumps"]


@pytest.mark.parametrize(
    "source",
    [
        "def f():\n    # Import cycle: b imports this module.\n    from b import g\n    return g\n",
        "def f():\n    import pandas as pd  # heavy optional dependency, only for SPSS exports\n    return pd\n",
        "def f():\n    from b import (  # Import cycle: b imports this module.\n        g,\n    )\n    return g\n",
        "def f():\n    from b import (\n        g,  # Import cycle: b imports this module.\n    )\n    return g\n",
    ],
    ids=["comment-line-above", "end-of-line", "first-line-of-multiline", "inside-multiline"],
)
def test_an_import_with_a_reason_beside_it_passes(source):
    assert uncommented_local_imports(source) == []


@pytest.mark.parametrize(
    "source",
    [
        # a comment two lines up, with code between, is about that code
        "def f():\n    # Import cycle\n    x = 1\n    from b import g\n    return g, x\n",
        # the end-of-line comment of the line above belongs to that line
        "def f():\n    x = 1  # one\n    from b import g\n    return g, x\n",
        # a lint pragma alone is no reason
        "def f():\n    from b import g  # noqa: F401\n",
        # the comment of one import does not cover the next
        "def f():\n    # Import cycle: b imports this module.\n    from b import g\n    from c import h\n",
    ],
    ids=["comment-above-code", "eol-comment-of-line-above", "pragma-only", "next-import"],
)
def test_an_import_without_its_own_reason_is_reported(source):
    assert len(uncommented_local_imports(source)) == 1


def test_one_comment_anywhere_in_app_config_ready_covers_its_imports():
    source = (
        "from django.apps import AppConfig\n"
        "class C(AppConfig):\n"
        "    def ready(self):\n"
        "        from a import x\n"
        "        x()\n"
        "        # Imported in ready(): the app registry is loaded by now.\n"
        "        from b import y\n"
        "        y()\n"
    )
    assert uncommented_local_imports(source) == []


def test_ready_without_any_comment_or_outside_an_app_config_is_reported():
    no_comment = (
        "from django.apps import AppConfig\nclass C(AppConfig):\n    def ready(self):\n        from a import x\n"
    )
    # not an AppConfig: its ready() is an ordinary method, the comment is not beside the import
    not_an_app = (
        "class C:\n    def ready(self):\n        # a comment elsewhere\n        x = 1\n        from a import y\n"
    )
    assert uncommented_local_imports(no_comment) == ["<source>:4: from a import x"]
    assert uncommented_local_imports(not_an_app) == ["<source>:5: from a import y"]


def test_module_level_and_class_level_imports_are_not_function_local():
    source = "import os\nif os.sep:\n    import json\nclass A:\n    import re\n"
    assert uncommented_local_imports(source) == []
