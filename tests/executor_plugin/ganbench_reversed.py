"""A third-party executor (installed by tests/test_executors.py as the distribution
``ganbench-reversed 0.1.0``): ``reversed`` runs the cells in this process, last submitted first —
an executor added without a change to ganbench, whose order must not change a single number."""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.specs import ExecutorSpec


class Reversed:
    name = "reversed"
    capacity = 1

    def __init__(self, state, device):
        self.state, self.device = state, device
        self.workers = [f"reversed {device}"]
        self.plans = []

    def start(self, report):
        self.report = report

    def submit(self, plan):
        self.plans.append(plan)

    def next_finished(self):
        from ganbench.execution.cell import execute

        plan = self.plans.pop()  # the last one first
        row = execute(plan, self.state)
        row["worker"] = "reversed"
        return plan, row

    def cancel(self):
        self.plans.clear()

    def close(self):
        pass


@hookimpl
def ganbench_register_executors(registry):
    registry.add_executor(ExecutorSpec(name="reversed", in_process=True, description="last cell first, in process",
                                       make=lambda config, *, device, threads, state: Reversed(state, device)))
