"""Entry point of the ``marquee`` CLI. Command modules register themselves on import."""

from __future__ import annotations

import importlib
import pkgutil

from services import commands
from services.cli_groups import app


def _load_commands() -> None:
    for module in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"services.commands.{module.name}")


def main() -> None:
    _load_commands()
    app()


if __name__ == "__main__":
    main()
