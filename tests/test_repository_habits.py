"""The habits the repository keeps, checked so that they stay kept."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def test_pre_commit_runs_the_checks_of_make_lint_and_typecheck() -> None:
    config = REPO / ".pre-commit-config.yaml"
    pre_commit = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    assert pre_commit, "pre-commit is a dev dependency (uv.lock)"
    result = subprocess.run([pre_commit, "validate-config", str(config)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    hooks = {
        hook["id"]: hook for repo in yaml.safe_load(config.read_text())["repos"] for hook in repo["hooks"]
    }
    assert set(hooks) == {"ruff", "ruff-format", "mypy"}
    assert "--strict" in hooks["mypy"]["entry"]
    assert all(hook["language"] == "system" for hook in hooks.values()), "nothing fetched from the network"


def serving_modules() -> list[Path]:
    """The code that runs in production: every Python module outside tests."""
    return [
        path
        for root in ("libs", "services", "src")
        for path in sorted((REPO / root).rglob("*.py"))
        if "tests" not in path.relative_to(REPO).parts and not path.name.startswith("test_")
    ]


def test_no_mock_in_serving_code() -> None:
    """unittest.mock belongs to tests: production code that patches itself hides its real wiring."""
    offenders = [
        str(path.relative_to(REPO))
        for path in serving_modules()
        if "unittest.mock" in (text := path.read_text(encoding="utf-8"))
        or "from unittest import mock" in text
    ]
    assert offenders == []


SERVICES_SRC = sorted((REPO / "services").glob("*/src"))
MAX_MODULE_LINES = 400
# The SQL a service may run stays in its adapters/: no statement builders and no SQL text elsewhere.
SQL_BUILDERS = {"select", "insert", "update", "delete", "text", "Table", "Column", "MetaData", "func"}
SQL_TEXT = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE)\b", re.S
)


def service_modules() -> list[Path]:
    return [path for src in SERVICES_SRC for path in sorted(src.rglob("*.py"))]


def test_no_service_module_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(REPO)): lines
        for path in service_modules()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def _outside_adapters(path: Path) -> bool:
    return "adapters" not in path.parts and path.parent.name != "models"


def test_no_sql_outside_adapters() -> None:
    offenders: list[str] = []
    for path in filter(_outside_adapters, service_modules()):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = str(path.relative_to(REPO))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sqlalchemy"):
                builders = SQL_BUILDERS & {alias.name for alias in node.names}
                if builders or node.module.startswith("sqlalchemy.dialects"):
                    offenders.append(f"{where}:{node.lineno} imports {node.module} {sorted(builders)}")
            elif (
                isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_TEXT.search(node.value)
            ):
                offenders.append(f"{where}:{node.lineno} holds SQL text")
    assert offenders == []


def test_composition_roots_define_no_functions_beyond_one_line_route_bodies() -> None:
    """bootstrap.py wires; a handler, a consumer or a route with a body of its own lives in its room."""
    offenders: list[str] = []
    for path in service_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for root in ast.walk(tree):
            if not (
                isinstance(root, ast.FunctionDef | ast.AsyncFunctionDef) and root.name.startswith("build_")
            ):
                continue
            for node in ast.walk(root):
                if node is root or not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                if len(node.body) > 1:
                    offenders.append(
                        f"{path.relative_to(REPO)}:{node.lineno} {root.name} defines {node.name}"
                    )
    assert offenders == []


def test_every_package_names_the_licence_and_the_notice_lists_the_models() -> None:
    assert (
        (REPO / "LICENSE")
        .read_text(encoding="utf-8")
        .lstrip()
        .startswith("EUROPEAN UNION PUBLIC LICENCE v. 1.2")
    )
    projects = [
        REPO / "pyproject.toml",
        *sorted(REPO.glob("libs/*/pyproject.toml")),
        *sorted(REPO.glob("services/*/pyproject.toml")),
    ]
    unlicensed = [
        str(path.relative_to(REPO))
        for path in projects
        if tomllib.loads(path.read_text(encoding="utf-8"))["project"].get("license") != "EUPL-1.2"
    ]
    assert unlicensed == []
    notice = (REPO / "NOTICE").read_text(encoding="utf-8")
    models = sorted((REPO / "services").rglob("*.onnx"))
    assert models, "the detector's committed model"
    for model in models:
        assert str(model.relative_to(REPO)) in notice, f"{model.name} is not in NOTICE"
