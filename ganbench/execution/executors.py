"""Executors: where the cells of a run execute. One small protocol — :class:`Executor`: ``submit``
plans, take rows back with ``next_finished`` as they finish (progress arrives meanwhile through the
``report`` callback given to ``start``), ``cancel`` — and three built-ins:

* ``serial`` — in the driver's process, one cell after another (the default on one device);
* ``local`` — ``jobs`` long-lived worker processes on this machine (spawned, never forked), each
  pinned to one device of ``devices`` (round-robin; several workers may share one GPU);
* ``ray`` — one Ray task per cell with ``num_cpus``/``num_gpus`` resources (a GPU fraction per cell
  may be set), retried by Ray when its worker is lost (``pip install 'ganbench[ray]'``).

Executors are plugins like models and losses: a third-party plugin registers one (e.g. SLURM) with
``registry.add_executor(ExecutorSpec(...))`` in its ``ganbench_register_executors`` hook.

Whatever the executor, only the driver writes ``result.json`` and ``results.csv``: an executor
returns rows, and a cell writes only inside its own directory.
"""

from __future__ import annotations

import os
import signal
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from ganbench.errors import GanbenchError, StorageError, UsageError, one_line
from ganbench.execution.cell import WorkerState, execute
from ganbench.execution.plan import GROUP_ROWS_KEY, CellPlan

#: how often a worker sends the driver a cell's progress (every step would flood the channel)
STEP_EVERY_S = 0.25
#: times a cell whose worker process died is given to a new worker before it fails
LOST_RETRIES = 1


@dataclass
class Event:
    """Progress of a cell: ``started`` (``steps``, ``resumed_from``), ``step`` (``record``) or
    ``status`` (a preparation step: ``text``, ``done``, ``total``)."""

    kind: str
    key: str | None = None
    worker: str = ""
    data: dict[str, Any] = field(default_factory=dict)


Report = Callable[[Event], None]


@dataclass
class ExecutorConfig:
    """What the user asked of the executor (``ganbench run --executor/--jobs/--devices/...``)."""

    jobs: int = 1
    #: devices for the workers, round-robin (``cuda:0,cuda:1``); default: the run's device
    devices: tuple[str, ...] = ()
    threads: int | None = None
    ray_address: str | None = None
    #: Ray: the GPU fraction each cell asks for (default: 1 when the run's device is CUDA, else 0)
    gpus_per_cell: float | None = None
    #: the executor's options (``--executor-opt NAME.KEY=VALUE``), validated against its
    #: ``ExecutorSpec.options`` before ``make`` is called (then ``{key: value}`` of that executor)
    options: dict[str, Any] = field(default_factory=dict)


class Executor(Protocol):
    """Runs plans, returns rows. ``workers`` describes the slots for the plan line
    (``["local-1 cpu", ...]``); ``capacity`` is how many cells run at once."""

    name: str
    workers: list[str]
    capacity: int

    def start(self, report: Report) -> None: ...
    def submit(self, plan: CellPlan) -> None: ...
    def next_finished(self) -> tuple[CellPlan, dict[str, Any]]: ...
    def cancel(self) -> None: ...
    def close(self) -> None: ...


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def failure_row(plan: CellPlan, worker: str, share: float | None, failure: str, message: str,
                traceback_text: str | None = None) -> dict[str, Any]:
    """The row of a cell that an executor could not run to its end (its worker died, or failed
    outside the cell's code): the plan's columns, where it ran, and the failure. ``traceback_text``
    goes to the cell's ``error.txt`` (the driver writes it)."""
    row = {**plan.row, "threads": plan.threads, "status": "failed", "failure": failure, "worker": worker,
           "node": socket.gethostname(), "device_share": share,
           "message": "; ".join(m for m in (message, *plan.notes) if m)}
    if traceback_text:
        row[TRACEBACK_KEY] = traceback_text
    return row


#: a failure row's traceback, for the driver to write to error.txt (never a column of the table)
TRACEBACK_KEY = "_traceback"


def group_rows(plan: CellPlan, row: dict[str, Any]) -> list[tuple[CellPlan, dict[str, Any]]]:
    """Each cell's row of what ``plan`` returned: itself, or each member of a replica group — their own
    rows, or (when the executor lost or failed the whole group) the group's failure in every row."""
    members = plan.members()
    if len(members) == 1:
        return [(plan, row)]
    rows = row.pop(GROUP_ROWS_KEY, None)
    where = {k: row.get(k) for k in ("worker", "node", "device_share") if k in row}
    if rows is not None:
        return [(m, {**where, **r}) for m, r in zip(members, [row, *rows], strict=True)]
    own = ("status", "message", "started_at", "device")
    return [(m, {**row, **{k: v for k, v in m.row.items() if k not in own}}) for m in members]


def lost_row(plan: CellPlan, worker: str, why: str, attempts: int, share: float | None,
             hint: str = "the machine may have run out of memory, or native code crashed") -> dict[str, Any]:
    """The row of a cell whose worker process died under it ``attempts`` times (``hint``: the likely cause)."""
    return failure_row(plan, worker, share, "lost",
                       f"worker {worker} {why} while running this cell" + (f" ({attempts} attempts)" if attempts > 1
                                                                             else "")
                       + f"; {hint}; re-run to retry it")


# -- serial ----------------------------------------------------------------------------------------
class SerialExecutor:
    """The driver's own process, one cell at a time (the driver's plugins and loaded data)."""

    name = "serial"

    def __init__(self, state: WorkerState, device: str):
        self.state = state
        self.capacity = 1
        self.workers = [f"serial {device}"]
        self._queue: list[CellPlan] = []
        self._report: Report = lambda event: None

    def start(self, report: Report) -> None:
        self._report = report

    def submit(self, plan: CellPlan) -> None:
        self._queue.append(plan)

    def next_finished(self) -> tuple[CellPlan, dict[str, Any]]:
        plan = self._queue.pop(0)
        row = execute(plan, self.state, _Forward(self._report, "serial"))
        row.update(worker="serial", node=socket.gethostname(), device_share=1.0)
        return plan, row

    def cancel(self) -> None:
        self._queue.clear()

    def close(self) -> None:
        pass


class _Forward:
    """A cell's events, as :class:`Event` to ``report`` (steps at most every :data:`STEP_EVERY_S`)."""

    def __init__(self, report: Report, worker: str, throttle: float = 0.0):
        self.report, self.worker, self.throttle = report, worker, throttle
        self._last = 0.0

    def started(self, plan, steps, resumed_from):
        self._last = 0.0
        self.report(Event("started", plan.key, self.worker, {"steps": steps, "resumed_from": resumed_from}))

    def step(self, plan, record):
        now = time.monotonic()
        if self.throttle and now - self._last < self.throttle and record.get("step") != plan.settings["steps"]:
            return
        self._last = now
        self.report(Event("step", plan.key, self.worker, {"record": dict(record)}))

    def status(self, text, done=None, total=None):
        self.report(Event("status", None, self.worker, {"text": text, "done": done, "total": total}))


# -- local worker processes -------------------------------------------------------------------------
def _die_with_parent(parent: int) -> None:
    """A worker must not outlive its driver (a kill -9 of the driver would leave it training and
    writing into a run directory another run may then take): Linux's parent-death signal, and a
    check that the parent is still the one that started us (it may have died before the signal was
    set)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the parent checks of the loop remain
        pass
    if os.getppid() != parent:
        os._exit(1)


def _local_worker(name: str, conn, parent: int) -> None:
    """A worker process: runs the plans the driver sends on ``conn`` until ``None``, sending events
    and rows back on the same pipe (one pipe per worker process: a worker killed mid-message can
    corrupt only its own pipe, and a message always says which process sent it)."""
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle: it stops us
    state = WorkerState()
    conn.send(("ready", None))

    def report(event: Event) -> None:
        if os.getppid() != parent:
            os._exit(1)  # the driver is gone
        conn.send(("event", event))

    events = _Forward(report, name, STEP_EVERY_S)
    while True:
        while not conn.poll(1.0):
            if os.getppid() != parent:
                return
        plan = conn.recv()
        if plan is None or os.getppid() != parent:
            return
        try:
            row = execute(plan, state, events)
        except StorageError as exc:  # the run directory cannot be written: the driver stops the run
            conn.send(("fatal", (plan.key, f"{exc}")))
            continue
        except BaseException as exc:  # a bug of ganbench's (plugin code is behind the cell boundary)
            conn.send(("crashed", (plan.key, one_line(exc), "".join(traceback.format_exception(exc)))))
            continue
        row.update(worker=name, node=socket.gethostname())
        conn.send(("finished", (plan.key, row)))


def _signal_name(code: int | None) -> str:
    if code is None or code >= 0:
        return f"exited with status {code}"
    try:
        return f"died with signal {-code} ({signal.Signals(-code).name})"
    except ValueError:  # a real-time signal has no name
        return f"died with signal {-code}"


@dataclass
class _Slot:
    name: str
    device: str
    share: float
    process: Any = None
    conn: Any = None
    ready: bool = False
    plan: CellPlan | None = None
    #: when the driver last heard from the worker (time.monotonic()) while it had a cell
    heard: float = 0.0
    #: why the driver killed it (it sent nothing for ``stall`` seconds), else None: it died by itself
    hung: str | None = None


class LocalExecutor:
    """``jobs`` spawned worker processes, worker *i* on ``devices[i % len(devices)]``. With ``stall`` > 0 a
    worker that sends nothing for ``stall`` seconds while it has a cell, once it is ready (no step, no status: a
    deadlock, a hung device; steps arrive a host-sync window at a time, and nothing comes while a cell loads,
    compiles or evaluates) is killed and treated as a worker that died: its cell goes to a new worker once, from its
    checkpoint, then fails as ``lost``."""

    name = "local"

    def __init__(self, jobs: int, devices: list[str], stall: float = 0.0):
        self.stall = float(stall)
        import multiprocessing

        self.ctx = multiprocessing.get_context("spawn")
        per_device = {d: sum(1 for i in range(jobs) if devices[i % len(devices)] == d) for d in devices}
        self.slots = [_Slot(f"local-{i + 1}", devices[i % len(devices)], 1.0 / per_device[devices[i % len(devices)]])
                      for i in range(jobs)]
        self.capacity = jobs
        self.workers = [f"{s.name} {s.device}" for s in self.slots]
        self._pending: list[CellPlan] = []
        self._report: Report = lambda event: None
        self._done: list[tuple[CellPlan, dict[str, Any]]] = []
        #: cell key -> how many of its workers died under it (a cell may move between slots)
        self._deaths: dict[str, int] = {}

    def start(self, report: Report) -> None:
        self._report = report
        for slot in self.slots:
            self._spawn(slot)

    def _spawn(self, slot: _Slot) -> None:
        ours, theirs = self.ctx.Pipe()
        slot.conn, slot.ready = ours, False
        slot.process = self.ctx.Process(target=_local_worker, name=f"ganbench {slot.name}", daemon=True,
                                        args=(slot.name, theirs, os.getpid()))
        slot.process.start()
        theirs.close()  # the child's end: ours reads EOF once the child is gone

    def submit(self, plan: CellPlan) -> None:
        self._pending.append(plan)
        self._dispatch()

    def _dispatch(self) -> None:
        for slot in self.slots:
            if slot.plan is None and self._pending:
                plan = self._pending.pop(0)
                slot.plan = replace(plan, device=slot.device, row={**plan.row, "device": slot.device, "started_at": _now()})
                slot.heard = time.monotonic()
                slot.conn.send(slot.plan)  # pickled here: a plan that cannot be sent fails now, not in a worker

    def next_finished(self) -> tuple[CellPlan, dict[str, Any]]:
        from multiprocessing.connection import wait

        while not self._done:
            if not any(s.plan for s in self.slots):
                raise RuntimeError("next_finished() with no cell submitted")
            ready = wait([s.conn for s in self.slots] + [s.process.sentinel for s in self.slots], timeout=1.0)
            for slot in self.slots:
                if slot.conn in ready:
                    self._receive(slot)
            for slot in self.slots:
                # from its "ready" on: a worker's start-up (imports, plugin discovery) is not its cell's
                if self.stall > 0 and slot.ready and slot.plan is not None and time.monotonic() - slot.heard > self.stall:
                    slot.hung = f"sent nothing for {self.stall:g} s (hung; killed)"
                    slot.process.kill()
                    slot.process.join(timeout=5)
                if slot.process.sentinel in ready or not slot.process.is_alive():
                    self._lost(slot)
            self._dispatch()
        return self._done.pop(0)

    def _receive(self, slot: _Slot) -> None:
        """Every message the slot's worker has sent (a dead worker's last ones included)."""
        try:
            while slot.conn.poll():
                kind, payload = slot.conn.recv()
                slot.heard = time.monotonic()
                self._handle(slot, kind, payload)
        except (EOFError, OSError):  # the worker is gone: _lost() takes it from here
            pass

    def _handle(self, slot: _Slot, kind: str, payload: Any) -> None:
        if kind == "ready":
            slot.ready = True
            return
        if kind == "event":
            self._report(payload)
            return
        plan = slot.plan
        if plan is None or payload[0] != plan.key:  # cannot happen: one pipe per process, one plan per slot
            raise RuntimeError(f"worker {slot.name} sent a result for {payload[0]}, not for its cell "
                               f"{plan.key if plan else None}")
        slot.plan = None
        if kind == "finished":
            row = payload[1]
            row["device_share"] = slot.share
            self._done.append((plan, row))
        elif kind == "fatal":
            raise StorageError(0, payload[1])
        else:  # "crashed": ganbench's own bug in the worker; this cell fails, with the traceback
            self._done.append((plan, failure_row(plan, slot.name, slot.share, "error",
                                                 f"worker {slot.name} failed outside the cell's code: {payload[1]}",
                                                 payload[2])))

    def _lost(self, slot: _Slot) -> None:
        """A worker that died (segfault, OOM-kill) is replaced; its cell goes to a new worker once (it
        continues from its checkpoint), then fails. A worker that dies before it is ready is not a
        cell's fault: the run stops with the reason."""
        self._receive(slot)  # what it sent before it died (its row, possibly)
        if slot.process.is_alive():
            return
        slot.process.join(timeout=1)
        hung, slot.hung = slot.hung, None
        why = hung or _signal_name(slot.process.exitcode)
        if not slot.ready:
            raise GanbenchError(f"worker process {slot.name} {why} before it was ready: it could not start "
                                "(its error is printed above); a script that calls ganbench.run with jobs > 1 "
                                "needs an `if __name__ == \"__main__\":` guard")
        plan, slot.plan = slot.plan, None
        slot.conn.close()
        self._spawn(slot)
        if plan is None:
            return
        deaths = self._deaths[plan.key] = self._deaths.get(plan.key, 0) + 1
        if deaths <= LOST_RETRIES:
            self._report(Event("warning", None, slot.name, {"text": f"worker {slot.name} {why} while training "
                                                            f"{plan.cell.label()}; the cell goes to a new worker"}))
            self._pending.insert(0, plan)
        else:
            self._done.append((plan, lost_row(plan, slot.name, why, deaths, slot.share, *(
                ["a deadlock or a device that stopped answering; if one evaluation of this cell takes longer, raise "
                 "--executor-opt local.stall"] if hung else []))))

    def cancel(self) -> None:
        self._pending.clear()
        for slot in self.slots:
            if slot.process is not None and slot.process.is_alive():
                slot.process.kill()  # a cell stopped mid-way continues from its checkpoint next time
            slot.plan = None

    def close(self) -> None:
        live = [slot for slot in self.slots if slot.process is not None and slot.process.is_alive()]
        for slot in live:  # every worker is told first, so they shut down side by side
            try:
                slot.conn.send(None)
            except (OSError, ValueError):  # its pipe is already closed: it is killed below
                slot.process.kill()
        deadline = time.monotonic() + 5
        for slot in live:
            slot.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(timeout=5)
        for slot in self.slots:
            if slot.conn is not None:
                slot.conn.close()


# -- Ray -------------------------------------------------------------------------------------------
#: a Ray task that loses its worker (node failure, OOM-kill) is run again this many times
RAY_RETRIES = 2
_RAY_STATE: WorkerState | None = None


def _ray_cell(plan: CellPlan, events_queue) -> dict[str, Any]:
    """A Ray task: one cell. Ray reuses its worker processes, so the plugins and loaded data of
    earlier tasks in the same process are reused (checked per plan, as in a local worker)."""
    global _RAY_STATE
    import ray

    if _RAY_STATE is None:
        _RAY_STATE = WorkerState()
    context = ray.get_runtime_context()
    worker = f"ray-{context.get_worker_id()[:8]}"
    gpus = context.get_accelerator_ids().get("GPU", [])

    def report(event: Event) -> None:
        if events_queue is not None:
            try:
                events_queue.put_nowait((worker, event))
            except Exception:  # a full or gone progress queue costs progress lines, never the cell
                pass

    if plan.device.startswith("cuda") and gpus:
        plan = replace(plan, device="cuda:0", row={**plan.row, "device": f"cuda (GPU {','.join(map(str, gpus))})"})
    row = execute(plan, _RAY_STATE, _Forward(report, worker, STEP_EVERY_S))
    row.update(worker=worker, node=context.get_node_id()[:12] + f" ({socket.gethostname()})")
    return row


class RayExecutor:
    """One Ray task per cell, ``num_cpus`` = the cell's threads, ``num_gpus`` = ``gpus_per_cell``."""

    name = "ray"

    def __init__(self, address: str | None, threads: int, gpus_per_cell: float, device: str):
        try:
            import ray
        except ImportError:
            raise UsageError("--executor ray needs Ray, which is not installed: pip install 'ganbench[ray]'") from None
        self.ray, self.address = ray, address
        self.threads, self.gpus, self.device = threads, gpus_per_cell, device
        # until start() connects (a dry run never does: it starts nothing), what this machine suggests
        self.capacity = max(1, (os.cpu_count() or 1) // max(threads, 1)) if address is None else 1
        self.workers = [f"ray: not started (a dry run starts nothing); {threads} CPU"
                        f"{f' + {gpus_per_cell:g} GPU' if gpus_per_cell else ''} per cell"]
        self._refs: dict[Any, CellPlan] = {}
        self._queue = None
        self._report: Report = lambda event: None
        self._task = None

    def _connect(self) -> None:
        """Start or join Ray and size the run by the cluster's resources."""
        ray, address, threads, gpus_per_cell = self.ray, self.address, self.threads, self.gpus
        if not ray.is_initialized():
            import signal
            import threading

            # ray.init installs a SIGTERM handler of its own (sys.exit): the command's (Ctrl-C's way out) is kept
            main = threading.current_thread() is threading.main_thread()
            previous = signal.getsignal(signal.SIGTERM) if main else None
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
            except Exception as exc:  # e.g. no cluster at that address
                raise UsageError(f"--executor ray: could not connect to Ray{f' at {address}' if address else ''}: "
                                 f"{one_line(exc)}") from exc
            finally:
                if previous is not None:
                    signal.signal(signal.SIGTERM, previous)
        elif address is not None:
            raise UsageError("--ray-address: Ray is already initialised in this process; leave the address out")
        resources = ray.cluster_resources()
        if gpus_per_cell > resources.get("GPU", 0):
            raise UsageError(f"--gpus-per-cell {gpus_per_cell:g}: the Ray cluster has {resources.get('GPU', 0):g} GPU(s)")
        if threads > resources.get("CPU", 0):
            raise UsageError(f"--threads {threads}: the Ray cluster has {resources.get('CPU', 0):g} CPU(s)")
        by_cpu = int(resources.get("CPU", 1) // max(threads, 1))
        by_gpu = int(resources.get("GPU", 0) // gpus_per_cell) if gpus_per_cell else by_cpu
        self.capacity = max(1, min(by_cpu, by_gpu))
        nodes = len([n for n in ray.nodes() if n.get("Alive")])
        self.workers = [f"ray: {nodes} node(s), {resources.get('CPU', 0):g} CPU, {resources.get('GPU', 0):g} GPU; "
                        f"{threads} CPU{f' + {gpus_per_cell:g} GPU' if gpus_per_cell else ''} per cell"]
        # Ray's default for a GPU task is a fresh worker process per task (max_calls=1: the GPU memory
        # of a finished task is released); CPU tasks reuse their workers (imports paid once per worker)
        self._task = ray.remote(max_calls=1 if gpus_per_cell else 0)(_ray_cell)

    def start(self, report: Report) -> None:
        from ray.util.queue import Queue

        self._connect()
        self._report = report
        self._queue = Queue(maxsize=10_000)

    def submit(self, plan: CellPlan) -> None:
        ref = self._task.options(num_cpus=self.threads, num_gpus=self.gpus, max_retries=RAY_RETRIES,
                                 retry_exceptions=False, name=f"ganbench {plan.cell.label()}").remote(plan, self._queue)
        self._refs[ref] = plan

    def _drain(self) -> None:
        while self._queue is not None:
            try:
                items = self._queue.get_nowait_batch(min(self._queue.qsize(), 1000))
            except Exception:
                return
            if not items:
                return
            for _, event in items:
                self._report(event)

    def next_finished(self) -> tuple[CellPlan, dict[str, Any]]:
        ray = self.ray
        while True:
            ready, _ = ray.wait(list(self._refs), num_returns=1, timeout=0.5)
            self._drain()
            if not ready:
                continue
            plan = self._refs.pop(ready[0])
            share = self.gpus if self.gpus else None
            errors = ray.exceptions
            try:
                row = ray.get(ready[0])
            except errors.RayTaskError as exc:  # raised by ganbench's own code in the task (a bug)
                cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                if isinstance(cause, StorageError):
                    raise StorageError(0, str(cause)) from None
                row = failure_row(plan, "ray", share, "error", f"the Ray task failed outside the cell's code: "
                                  f"{one_line(cause)}", str(exc))
            except errors.OutOfMemoryError as exc:  # Ray's memory monitor killed the task's worker
                row = failure_row(plan, "ray", share, "oom", f"out of memory on host (Ray killed the task's worker "
                                  f"{RAY_RETRIES + 1} times): {one_line(exc)}")
            except (errors.WorkerCrashedError, errors.NodeDiedError, errors.LocalRayletDiedError) as exc:
                row = lost_row(plan, "ray", f"was lost ({type(exc).__name__})", RAY_RETRIES + 1, share)
            except errors.RayError as exc:  # any other failure of Ray's to run the task: this cell only
                row = failure_row(plan, "ray", share, "error", f"Ray could not run the cell: {one_line(exc)}",
                                  str(exc))
            row["device_share"] = share
            row["threads"] = plan.threads
            return plan, row

    def cancel(self) -> None:
        """Cancel every task not finished, and wait (30 s at most) until they have stopped, so none
        writes into its cell after the driver has released the run directory."""
        refs = list(self._refs)
        for ref in refs:
            self.ray.cancel(ref, force=True)
        if refs:
            self.ray.wait(refs, num_returns=len(refs), timeout=30)
        self._refs.clear()

    def close(self) -> None:
        self.cancel()
        if self._queue is not None:
            try:
                self._queue.shutdown()
            except Exception:  # the queue's actor may already be gone with the cluster
                pass
            self._queue = None
