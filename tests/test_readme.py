"""The README stays true: every setting is documented, and the two commands exist; no file keeps a
merge's conflict markers."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from coopmarket.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    missing = [name for name in Settings.model_fields if f"`COOPMARKET_{name.upper()}`" not in readme]
    assert missing == []


def test_the_two_readme_commands_exist_and_are_executable() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    for command in ("scripts/demo", "scripts/test"):
        assert f"./{command}" in readme
        assert os.access(ROOT / command, os.X_OK), command


TEXT_SUFFIXES = {".md", ".py", ".toml", ".txt", ".po", ".html", ".css", ".lua", ".cfg", ".ini", ".sh", ""}


def test_no_file_keeps_a_merges_conflict_markers() -> None:
    # Every tracked text file, the docs included (a marker once landed in README.md unseen).
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(  # noqa: S603 - git, found on PATH, with fixed arguments
        [git, "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    found = []
    for name in filter(None, listed.decode().split("\0")):
        path = ROOT / name
        if path.suffix not in TEXT_SUFFIXES or not path.is_file():
            continue
        for number, line in enumerate(path.read_text("utf-8", errors="replace").splitlines(), 1):
            if line.startswith(("<<<<<<< ", ">>>>>>> ")) or line == "=======":
                found.append(f"{name}:{number}")
    assert found == []
