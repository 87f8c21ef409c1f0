"""The ``consroute`` command line. Each sub-command lives in ``consroute_hf.commands.<name>``
and mirrors a Python API function; a module exposes ``register(subparsers)`` which adds its
parser and sets ``func`` (called with the parsed arguments, returning an exit code)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

#: Sub-command modules, in the order `consroute --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "prepare",
    "calibrate",
    "features",
    "train",
    "reproduce",
    "serve",
    "push",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="consroute", description="Train, evaluate, publish and serve ConsRoute routers.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"consroute_hf.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
