"""Readers for the official on-disk formats, one module per format.

Every reader returns events as :data:`pipesdfa.data.events.EVENT_DTYPE` (``t`` in
microseconds) and raises :class:`~pipesdfa.util.errors.UserError` naming the file and the byte
offset or field for a truncated or corrupt file. Parsing is vectorised with NumPy: no
Python loop runs per event (the AEDAT reader loops per packet of thousands of events).
"""
