"""Command-line options shared by ``simulate`` and ``reproduce``: preset, --set, --config."""

from __future__ import annotations

import argparse
from typing import Any, Mapping

from pipesdfa.hw.config import DEFAULT_PRESET, HwConfig, extend_config, load_config
from pipesdfa.hw.config.keys import parse_set
from pipesdfa.hw.config.presets import PRESETS


def add_config_args(p: argparse.ArgumentParser, default_preset: str = DEFAULT_PRESET) -> None:
    p.add_argument("--preset", default=default_preset, metavar="P",
                   help=f"cost-constant preset, one of: {', '.join(PRESETS)} (default {default_preset})")
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE", default=[],
                   help="override one parameter, e.g. --set crossbar.rows=256 or --set device.levels=32 (repeatable)")
    p.add_argument("--config", dest="config_files", action="append", metavar="FILE", default=[],
                   help="YAML/JSON file of overrides {section: {key: value}} (repeatable, applied before --set)")


def config_from_args(args: argparse.Namespace, base: Mapping[str, Any] | None = None) -> HwConfig:
    """The preset, then ``base`` (e.g. the device of a training run), then files, then ``--set``."""
    cfg = load_config(args.preset)
    if base:
        cfg = cfg.with_overrides(dict(base), "the training run's device")
    return extend_config(cfg, args.config_files, parse_set(args.overrides))
