"""Run the ``uvatar`` CLI entry point in this process (import as ``from cli_helpers import run_cli``):
fast, as the body model stays loaded between tests."""

import sys


def run_cli(capsys, monkeypatch, *args) -> tuple[int, str, str]:
    """``uvatar ARGS`` through :func:`uvatar.cli.main`: its exit code, stdout and stderr (read from
    ``capsys``, which is left empty)."""
    from uvatar.cli import main

    monkeypatch.setattr(sys, "argv", ["uvatar", *map(str, args)])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err
