"""Command-line options shared by ``simulate`` and ``reproduce hardware``: preset, --set, --config."""

from __future__ import annotations

import argparse

from pipesdfa.hw.params import PRESETS, HwConfig, load_config, parse_set


def add_config_args(p: argparse.ArgumentParser, default_preset: str) -> None:
    p.add_argument("--preset", default=default_preset, choices=list(PRESETS),
                   help=f"cost-constant preset (default {default_preset})")
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE", default=[],
                   help="override one parameter, e.g. --set crossbar.rows=256 (repeatable)")
    p.add_argument("--config", dest="config_files", action="append", metavar="FILE", default=[],
                   help="YAML/JSON file of overrides {section: {key: value}} (repeatable, applied before --set)")


def config_from_args(args: argparse.Namespace) -> HwConfig:
    return load_config(args.preset, parse_set(args.overrides), args.config_files)
