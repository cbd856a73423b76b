import ast
import importlib
from pathlib import Path

from monitor_project.management.commands.task_worker import TASK_MODULES

PROJECT_DIR = Path(__file__).resolve().parents[2]
PACKAGES = ("accounts", "alerts", "common", "core", "reports", "stores", "monitor_project")


def _defines_a_task(path: Path) -> bool:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(target, ast.Name) and target.id == "task":
                    return True
    return False


def test_the_worker_imports_every_module_defining_a_task_before_its_first_task():
    defining = {
        ".".join(path.relative_to(PROJECT_DIR).with_suffix("").parts)
        for package in PACKAGES
        for path in (PROJECT_DIR / package).rglob("*.py")
        if "tests" not in path.parts and "migrations" not in path.parts and _defines_a_task(path)
    }
    assert defining, "no task found: the scan is broken"
    assert defining == set(TASK_MODULES)
    for name in TASK_MODULES:
        importlib.import_module(name)
