"""The README documents what the code does: every setting (the table is generated), every command."""

from __future__ import annotations

from pathlib import Path

from focalpoint_upload.cli import _parser
from focalpoint_upload.config.settings import markdown_table

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_the_settings_table_is_the_generated_one() -> None:
    start = README.index("<!-- settings-table:start -->") + len("<!-- settings-table:start -->")
    end = README.index("<!-- settings-table:end -->")
    assert README[start:end].strip() == markdown_table(), "run: focalpoint-upload settings --markdown"


def test_every_command_is_documented() -> None:
    sub = next(a for a in _parser()._actions if a.dest == "command")
    for name in sub.choices:  # type: ignore[union-attr]
        assert f"`{name}" in README, name


def test_the_two_set_up_commands_are_there() -> None:
    assert "./dev serve" in README and "./dev test" in README
