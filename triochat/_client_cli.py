"""``triochat connect``: placeholder until the client lands (see issue 2)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``triochat connect``."""


def run(args: argparse.Namespace) -> int:
    """Run ``triochat connect``."""
    raise NotImplementedError
