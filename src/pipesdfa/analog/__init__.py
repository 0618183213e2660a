"""Device-aware training on simulated RRAM crossbars (device facts in :mod:`pipesdfa.hw.config.device`,
device physics on tensors in :mod:`pipesdfa.analog.physics`).

* :mod:`.config`: :class:`AnalogConfig` (ADC, tiles, weight range, update scheme) and the
  ``--set key=value`` parser for device and analog keys.
* :mod:`.crossbar`: :class:`Crossbar`, a differential-pair array with reads and pulse writes.
* :mod:`.layers`: :class:`AnalogLinear`, :class:`AnalogConv2d`.
* :mod:`.feedback`: the SDFA feedback matrix sampled from device variation, and its
  comparison with the Gaussian.
* :mod:`.training`: :class:`AnalogTraining`, the trainer hook, and :func:`analogize`.
"""

from pipesdfa.analog.config import AnalogConfig, parse_set_options, split_device_and_analog
from pipesdfa.analog.crossbar import Crossbar, PulseStats, adc_quantise
from pipesdfa.analog.feedback import gaussianity, rram_feedback
from pipesdfa.analog.layers import AnalogConv2d, AnalogLinear
from pipesdfa.analog.training import AnalogTraining, analog_layers, analogize

__all__ = [
    "AnalogConfig", "parse_set_options", "split_device_and_analog",
    "Crossbar", "PulseStats", "adc_quantise",
    "gaussianity", "rram_feedback",
    "AnalogConv2d", "AnalogLinear",
    "AnalogTraining", "analog_layers", "analogize",
]
