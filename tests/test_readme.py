"""The README stays true: every setting is documented, and the two commands exist."""

from __future__ import annotations

import os
from pathlib import Path

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
