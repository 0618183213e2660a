"""SpikeSim's published example (Moitra et al., IEEE TCAD 2023, its ``ela_spikesim.py``), as data.

A 4-bit VGG9 SNN on CIFAR-10 (T = 5) on 64x64 RRAM crossbars, 8 PEs per tile, 65 nm: SpikeSim
prints 48 PEs, 6 tiles, area 8,425,528.76 um^2, energy 15,906,934.03 pJ, latency 62,832,640 ns.
The machine is the ``spikesim-vgg9`` preset (:mod:`pipesdfa.hw.config.presets`); the network is
:func:`vgg9_cifar_spec`. :mod:`pipesdfa.hw.validation` runs both through the engine.

SpikeSim costs only the convolution layers, and counts PE cycles at the *pooled* output
positions; the spec therefore writes each conv + 2x2 max-pool as a stride-2 convolution (the
same number of positions after the layer), and the validation reads the convolution layers.
"""

from __future__ import annotations

from pipesdfa.zoo.workloads import Conv, Dense, ModelSpec

__all__ = ["vgg9_cifar_spec", "SPIKESIM_PUBLISHED", "SPIKESIM_T", "SPIKESIM_CONV_LAYERS", "SOURCE"]

SOURCE = "SpikeSim (Moitra et al., IEEE TCAD 2023), ela_spikesim.py example"
SPIKESIM_T = 5
SPIKESIM_CONV_LAYERS = 7
#: The numbers SpikeSim prints for its example.
SPIKESIM_PUBLISHED = {"pes": 48, "tiles": 6, "area_um2": 8425528.76, "energy_pj": 15906934.03,
                      "latency_ns": 62832640.0}


def vgg9_cifar_spec() -> ModelSpec:
    """SpikeSim's VGG9: 7 conv3x3 (64, 64/2, 128, 128/2, 256, 256, 256/2; /2 = pooled) + FC 1024 + FC 10."""
    convs = [Conv(64), Conv(64, stride=2), Conv(128), Conv(128, stride=2), Conv(256), Conv(256), Conv(256, stride=2)]
    return ModelSpec("vgg9-cifar10", (3, 32, 32), tuple(convs) + (Dense(1024), Dense(10)), 10)
