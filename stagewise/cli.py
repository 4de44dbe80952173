"""The `stagewise` command.

    stagewise --help
    stagewise check configs/demo.yaml seed=1      # validate a study config and print it resolved

The study commands live in `stagewise/commands/` (they load a study and run its steps through
`stagewise.run`); a part adds commands that need no study in its own `cli.py` (`stagewise.evaluate.cli`:
`data inspect`). Each module has `register(app)`, so this file only gathers them. Subcommand bodies import torch/ray/vllm lazily: `--help` must stay instant.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Optional

import typer

from stagewise.core.errors import StagewiseError

app = typer.Typer(
    name="stagewise",
    help="Which training stage gives a language model its safety behaviour? Train, serve, evaluate, analyse.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Packages that contribute subcommands, in the order a study runs.
COMMAND_MODULES = [
    "stagewise.commands.train", "stagewise.commands.serve", "stagewise.commands.evaluate", "stagewise.evaluate.cli",
    "stagewise.commands.petri", "stagewise.commands.grade", "stagewise.commands.calibrate",
    "stagewise.commands.analyze", "stagewise.commands.plan", "stagewise.commands.run",
]

ConfigArg = typer.Argument(..., help="Study config YAML (see configs/).", show_default=False)
OverridesArg = typer.Argument(None, help="key=value overrides, e.g. training.sft.max_steps=20", show_default=False)


@app.callback()
def _root() -> None:
    """Which training stage gives a language model its safety behaviour? Train, serve, evaluate, analyse."""


@app.command()
def check(config: str = ConfigArg, overrides: Optional[list[str]] = OverridesArg) -> None:
    """Validate a study config (with overrides) and print it fully resolved."""
    from stagewise.config import dump_study, load_study

    study = load_study(config, overrides or [])
    typer.echo(dump_study(study), nl=False)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(name) is None:
            continue
        importlib.import_module(name).register(app)


_register_all()


def main(argv: list[str] | None = None) -> int:
    try:
        # Without standalone mode click returns (not raises) the code of a `typer.Exit(n)` from a command.
        code = app(args=argv, standalone_mode=False)
    except StagewiseError as e:
        typer.echo(f"error: {e}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except typer.Exit as e:  # raised by commands that choose their own exit code
        return e.exit_code
    except SystemExit as e:
        return int(e.code or 0)
    except Exception as e:  # click's usage errors
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            return e.exit_code
        if isinstance(e, click.exceptions.Abort):
            return 1
        raise
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
