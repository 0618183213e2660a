"""The hardware design-space exploration (``pipesdfa explore``): what to search (:mod:`.plan`),
searching it (:mod:`.run`) and its results, fronts and plots (:mod:`.report`)."""

from pipesdfa.studies.exploration.plan import SEARCHES, STRICT, ExplorePlan, make_plan
from pipesdfa.studies.exploration.report import summarise, write_outputs
from pipesdfa.studies.exploration.run import evaluate_points, run_exploration

__all__ = ["SEARCHES", "STRICT", "ExplorePlan", "make_plan", "summarise", "write_outputs", "evaluate_points",
           "run_exploration"]
