"""The hardware configuration, in one place: the typed parameter tree (:mod:`.tree`), its dotted
keys (:mod:`.keys`), the cited defaults and named presets (:mod:`.presets`, device facts in
:mod:`.device`), the checks (:mod:`.checks`) and the resolution preset -> files -> ``--set``
(:mod:`.resolve`). Pure data and arithmetic: nothing here imports torch."""

from pipesdfa.hw.config.resolve import DEFAULT_PRESET, HwConfig, extend_config, load_config, with_dram

__all__ = ["HwConfig", "load_config", "extend_config", "with_dram", "DEFAULT_PRESET"]
