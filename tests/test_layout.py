"""The layout's rules: what SFT may depend on, and no module reaching into another's private names."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_sft_depends_on_the_shared_core_not_on_rl():
    code = "import sys, vlm_ppo.sft, vlm_ppo.sft_data; print(sorted(m for m in sys.modules if m.startswith(('stable_baselines3', 'vlm_ppo.trainer', 'vlm_ppo.ppo', 'vlm_ppo.rollout', 'vlm_ppo.buffer'))))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_no_module_imports_another_modules_private_names():
    offenders = []
    for path in sorted((ROOT / "vlm_ppo").rglob("*.py")) + sorted((ROOT / "gym_cards").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("vlm_ppo", "gym_cards"):
                offenders += [
                    f"{path.relative_to(ROOT)}: {node.module}.{alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_")
                ]
    assert not offenders, offenders


def test_no_code_branches_on_a_particular_env():
    """The trainer, evaluation, collection, demonstrations, SFT, the policy, the update and the CLI
    ask the task, never the env id: no comparison or prefix test against an env's name."""
    offenders = []
    for name in ("trainer", "evaluation", "rollout", "sft_data", "sft", "cli", "policy", "ppo", "config"):
        tree = ast.parse((ROOT / "vlm_ppo" / f"{name}.py").read_text())
        for node in ast.walk(tree):
            tested = []
            if isinstance(node, ast.Compare):
                tested = [node.left, *node.comparators]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("startswith", "endswith")
            ):
                tested = list(node.args)
            for value in tested:
                for constant in ast.walk(value):
                    if (
                        isinstance(constant, ast.Constant)
                        and isinstance(constant.value, str)
                        and ("gym_cards" in constant.value or "alfworld" in constant.value.lower())
                    ):
                        offenders.append(f"{name}.py:{node.lineno}: {constant.value!r}")
    assert not offenders, offenders


def tomllib_or_skip():
    return pytest.importorskip("tomllib")  # Python 3.11+


def test_every_package_ships_in_the_wheel():
    """pyproject lists its packages by hand (the fonts ship from the top-level folder as
    ``gym_cards.fonts``); a package missing there is absent from a non-editable install, which the
    editable checkout the tests run from never notices (``vlm_ppo.tasks`` once was)."""
    listed = set(tomllib_or_skip().loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("gym_cards", "vlm_ppo")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk - listed == set(), f"packages missing from pyproject.toml: {sorted(on_disk - listed)}"


def test_every_data_file_inside_a_package_ships_in_the_wheel():
    """Files other than Python inside a package folder reach the wheel only through package-data."""
    import fnmatch

    patterns = tomllib_or_skip().loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    unshipped = []
    for top in ("gym_cards", "vlm_ppo"):
        for path in (ROOT / top).rglob("*"):
            if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            package_dir = next(parent for parent in path.parents if (parent / "__init__.py").exists())
            package = ".".join(package_dir.relative_to(ROOT).parts)
            relative = path.relative_to(package_dir).as_posix()
            if not any(fnmatch.fnmatch(relative, pattern) for pattern in patterns.get(package, [])):
                unshipped.append(str(path.relative_to(ROOT)))
    assert unshipped == [], f"add to [tool.setuptools.package-data]: {unshipped}"
