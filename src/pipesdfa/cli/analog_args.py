"""Command-line options of device-aware training (``pipesdfa train --hardware rram``)."""

from __future__ import annotations

import argparse

from pipesdfa.hw.config.device import DEVICE_PRESETS
from pipesdfa.util.names import choice

__all__ = ["add_hardware_args", "hardware_overrides"]


def add_hardware_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("hardware (device-aware training)")
    g.add_argument("--hardware", choices=["ideal", "rram"], help="ideal float weights (default) or simulated RRAM crossbars")
    g.add_argument("--device-preset", type=choice("device preset", sorted(DEVICE_PRESETS)), metavar="NAME",
                   help=f"RRAM device for --hardware rram: {', '.join(sorted(DEVICE_PRESETS))} (default neurosim-default)")
    g.add_argument("--set", dest="device_set", action="append", metavar="KEY=VALUE", default=None,
                   help="override a device fact, device.KEY=V (device.levels, device.c2c_sigma, device.nu_ltp, ...: the "
                        "keys of `pipesdfa simulate --set`), or an analog option, analog.KEY=V (adc_bits, adc_range, "
                        "tile_rows, w_max_factor, update_scheme, rounding, program_noise); a bare KEY=V is read as "
                        "either; repeatable; --hardware rram only")


def hardware_overrides(args: argparse.Namespace) -> dict:
    """The :class:`~pipesdfa.training.loop.TrainConfig` fields given on the command line."""
    return {"hardware": getattr(args, "hardware", None), "device_preset": getattr(args, "device_preset", None),
            "device_set": getattr(args, "device_set", None)}
