"""pipesdfa: SDFA training of spiking neural networks and a PipeSDFA/PipeLayer simulator.

The public API (``import pipesdfa``; names load on first use, so ``import pipesdfa`` stays
light). See ``docs/api.md``.

* rules: :class:`SDFA`, :class:`BPTT`, :class:`OutputOnly` (bound to blocks and a readout),
  :func:`alignment`, :class:`FeedbackMatrices`, :func:`register_sampler`; :func:`tap` and
  :class:`TappedSDFA` (SDFA through markers in a network's own forward);
* building blocks: :class:`SpikingBlock` (:func:`set_precision`: fp32 or bf16 products), :class:`LIF`, :class:`IF`, :class:`SpikingNeuron`,
  :class:`NeuronParams`, :func:`spike_fn`, :data:`SURROGATES`, :class:`MeanRate`,
  :class:`VoteReadout`;
* data: :func:`load_dataset`, :func:`from_tonic`;
* the model zoo: :func:`build_model`, :class:`SpikingNet`, :class:`ModelSpec`, :class:`Conv`,
  :class:`Dense`, :func:`mlp_spec`, :func:`convnet_spec`, :func:`vgg11_spec`, :func:`get_workload`;
* the trainer: :class:`TrainConfig`, :func:`config_from_workload`, :func:`train` (the training loop,
  :mod:`pipesdfa.training.loop`; :func:`fit` is the same function under its older name), :func:`evaluate`;
* interchange: :func:`to_nir`, :func:`from_nir` (NIR graphs); :class:`OpsCounter`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "SDFA": "pipesdfa.learning", "BPTT": "pipesdfa.learning", "OutputOnly": "pipesdfa.learning",
    "Rule": "pipesdfa.learning", "alignment": "pipesdfa.learning", "make_rule": "pipesdfa.learning",
    "FeedbackMatrices": "pipesdfa.learning", "register_sampler": "pipesdfa.learning",
    "TappedSDFA": "pipesdfa.learning", "tap": "pipesdfa.learning",
    "SpikingBlock": "pipesdfa.snn.blocks", "set_precision": "pipesdfa.snn.blocks",
    "LIF": "pipesdfa.snn.neurons", "IF": "pipesdfa.snn.neurons", "SpikingNeuron": "pipesdfa.snn.neurons",
    "NeuronParams": "pipesdfa.snn.dynamics",
    "spike_fn": "pipesdfa.snn.surrogates", "SURROGATES": "pipesdfa.snn.surrogates", "surrogate_grad": "pipesdfa.snn.surrogates",
    "MeanRate": "pipesdfa.snn.readout", "VoteReadout": "pipesdfa.snn.readout",
    "load_dataset": "pipesdfa.data.registry", "dataset_names": "pipesdfa.data.registry",
    "from_tonic": "pipesdfa.data.tonic",
    "build_model": "pipesdfa.zoo.models", "SpikingNet": "pipesdfa.zoo.models",
    "ModelSpec": "pipesdfa.zoo.workloads", "Conv": "pipesdfa.zoo.workloads", "Dense": "pipesdfa.zoo.workloads",
    "mlp_spec": "pipesdfa.zoo.workloads", "convnet_spec": "pipesdfa.zoo.workloads", "vgg11_spec": "pipesdfa.zoo.workloads",
    "get_workload": "pipesdfa.zoo.workloads",
    "TrainConfig": "pipesdfa.training.config", "config_from_workload": "pipesdfa.training.config",
    "train": "pipesdfa.training.loop", "fit": "pipesdfa.training.loop", "evaluate": "pipesdfa.training.evaluation",
    "to_nir": "pipesdfa.interop.nir_export", "from_nir": "pipesdfa.interop.nir_import",
    "OpsCounter": "pipesdfa.training.ops", "UserError": "pipesdfa.util.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pipesdfa' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
