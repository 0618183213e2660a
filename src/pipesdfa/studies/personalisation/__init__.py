"""On-device personalisation, end to end (``pipesdfa reproduce personalisation``).

A network pre-trained with BPTT on public data meets a user's device (a data shift,
:mod:`pipesdfa.data.shifts`); it is adapted on ``K`` labelled samples per class with BPTT,
SDFA (random or aligned feedback), or the output layer alone, on ideal weights or simulated
RRAM (:mod:`pipesdfa.training.finetune`), and each adaptation is priced on PipeSDFA and PipeLayer by the
simulator with the adaptation's own spike rates and pulses. :mod:`.plan` says what runs,
:mod:`.runner` runs it, :mod:`.report` and :mod:`.plots` summarise it, the command lives in :mod:`pipesdfa.cli.personalise`.
"""
