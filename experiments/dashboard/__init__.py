"""The interactive dashboard (Mesa's SolaraViz): steer one run year by year, and compare two scenarios
of a ``suanli compare`` directory. ``suanli dashboard`` serves it; see ``app`` for the pages."""

from experiments.dashboard.cli import add_parser

__all__ = ["add_parser"]
