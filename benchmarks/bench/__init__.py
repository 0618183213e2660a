"""Shared pieces of the scripts in benchmarks/: the train-step benchmark's cases, probes, floors
and tables, one machine description for every result JSON, and doc-block writing.

The scripts put their own folder first on ``sys.path`` (Python does so for a script), so they
import these as ``bench.<module>``.
"""
