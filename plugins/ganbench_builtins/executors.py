"""Built-in executors: ``serial``, ``local`` (worker processes) and ``ray``. Registration imports
neither torch nor Ray."""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.options import Option, non_negative
from ganbench.specs import ExecutorSpec


def _serial(config, *, device, threads, state):
    from ganbench.execution.executors import SerialExecutor

    return SerialExecutor(state, device)


def _local(config, *, device, threads, state):
    from ganbench.execution.executors import LocalExecutor

    return LocalExecutor(config.jobs, list(config.devices) or [device], stall=config.options.get("stall", 0.0))


def _ray(config, *, device, threads, state):
    from ganbench.execution.executors import RayExecutor

    gpus = config.gpus_per_cell if config.gpus_per_cell is not None else (1.0 if device.startswith("cuda") else 0.0)
    return RayExecutor(config.ray_address, threads, gpus, device)


@hookimpl
def ganbench_register_executors(registry):
    registry.add_executor(ExecutorSpec(
        name="serial", make=_serial, in_process=True,
        description="In ganbench's own process, one cell after another (the default with --jobs 1).",
    ))
    registry.add_executor(ExecutorSpec(
        name="local", make=_local,
        description="--jobs N worker processes on this machine (spawned once, each runs many cells), pinned "
        "round-robin to --devices; CPU workers get cores // N torch threads each (the default with --jobs > 1).",
        options={"stall": Option(0.0, "seconds a worker may send nothing (no step, no status) while it has a cell "
                                 "before it is killed as hung; its cell then goes to a new worker once, from its "
                                 "checkpoint, then fails as lost (0: never; more than the longest silence: a "
                                 "window of 32 steps, loading, compiling, an evaluation)",
                                 check=non_negative)},
    ))
    registry.add_executor(ExecutorSpec(
        name="ray", make=_ray, reference="https://docs.ray.io/en/latest/ray-core/tasks.html",
        description="One Ray task per cell (num_cpus = its threads, num_gpus = --gpus-per-cell), on a local Ray "
        "instance or a cluster (--ray-address); a task whose worker is lost is retried. pip install 'ganbench[ray]'.",
    ))
