"""pipesdfa: SDFA training of spiking neural networks and a PipeSDFA/PipeLayer simulator."""

__version__ = "0.1.0"
