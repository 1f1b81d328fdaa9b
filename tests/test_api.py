"""The public API: every exported name resolves, and the CLI documents every command."""

from __future__ import annotations

import subprocess
import sys

import realimpact


def test_every_exported_name_resolves():
    for name in realimpact.__all__:
        assert getattr(realimpact, name) is not None, name


def test_unknown_name_is_an_attribute_error():
    try:
        realimpact.no_such_thing  # noqa: B018
    except AttributeError as e:
        assert "no_such_thing" in str(e)
    else:
        raise AssertionError("expected AttributeError")


def _commands(app):
    """Yield (path, click command) for every leaf command of the Typer app."""
    import typer.main

    root = typer.main.get_command(app)

    def walk(cmd, path):
        sub = getattr(cmd, "commands", None)
        if sub:
            for name, c in sub.items():
                yield from walk(c, [*path, name])
        else:
            yield path, cmd

    yield from walk(root, [])


def test_every_command_has_help_and_a_json_option():
    from realimpact.cli import app

    missing_json = []
    for path, cmd in _commands(app):
        assert (cmd.help or "").strip(), f"{' '.join(path)} has no help text"
        opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
        if "--json" not in opts:
            missing_json.append(" ".join(path))
    assert not missing_json, f"commands without --json: {missing_json}"


def test_version_and_module_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "realimpact", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout.strip() == realimpact.__version__
