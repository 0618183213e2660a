"""The accuracy table (``pipesdfa reproduce accuracy``): which runs (:mod:`.plan`), running them
(:mod:`.runner`), their summaries and Markdown (:mod:`.report`) and learning curves (:mod:`.plots`)."""

from pipesdfa.studies.accuracy.plan import Method, RunSpec, TABLE_WORKLOADS, default_methods, plan_runs
from pipesdfa.studies.accuracy.report import compact_markdown, document, markdown, summarise
from pipesdfa.studies.accuracy.runner import run_table

__all__ = ["Method", "RunSpec", "TABLE_WORKLOADS", "default_methods", "plan_runs", "compact_markdown", "document",
           "markdown", "summarise", "run_table"]
