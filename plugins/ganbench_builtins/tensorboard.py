"""The built-in TensorBoard logger: ``ganbench run --log tensorboard`` writes each cell's scalars
(losses, mean scores, gradient norms per step; metrics per evaluation), sample pictures and HParams
into ``RUN_DIR/tensorboard/<cell id>/`` while it trains (see :mod:`ganbench.tensorboard`). The hooks
run in the process that trains the cell; they do nothing unless the run's ``log`` names this logger.
"""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.specs import LoggerSpec

#: (run directory, cell id) -> the open log of a cell training in this process
_open: dict[tuple[str, str], object] = {}


@hookimpl
def ganbench_register_loggers(registry):
    from ganbench import tensorboard

    registry.add_logger(LoggerSpec(
        name=tensorboard.NAME,
        description="TensorBoard event files per cell (RUN_DIR/tensorboard/<cell>): losses, scores and gradient "
        "norms per step, metrics per evaluation, sample pictures, HParams of every cell with its final metrics; "
        "'ganbench export tensorboard RUN_DIR' writes the same for a finished run",
        requires=("tensorboard",), install=tensorboard.INSTALL, reference="https://www.tensorflow.org/tensorboard",
    ))


def _log(cell):
    return _open.get((str(cell.run_dir), cell.cell_id))


@hookimpl
def ganbench_cell_started(cell):
    from ganbench import tensorboard

    if tensorboard.NAME not in cell.log:
        return
    key = (str(cell.run_dir), cell.cell_id)
    earlier = _open.pop(key, None)
    if earlier is not None:  # an attempt of this cell that ended without cell_finished (a dead worker's retry)
        earlier.close()
    logdir = tensorboard.cell_logdir(cell.run_dir, cell.cell_id)
    if cell.resumed_from:  # TensorBoard drops the killed attempt's events from this step on
        _open[key] = tensorboard.CellLog(logdir, purge_step=cell.resumed_from + 1)
    else:  # trained from step 0: an earlier attempt's events would show twice
        tensorboard.remove_events(logdir)
        _open[key] = tensorboard.CellLog(logdir)


@hookimpl
def ganbench_step(cell, record):
    log = _log(cell)
    if log is not None:
        log.step(record)


@hookimpl
def ganbench_evaluated(cell, step, values):
    log = _log(cell)
    if log is not None:
        log.metrics(step, values)


@hookimpl
def ganbench_samples_saved(cell, step, path):
    log = _log(cell)
    if log is not None:
        log.image(step, path)


@hookimpl
def ganbench_cell_finished(cell, row):
    from ganbench import tensorboard

    log = _open.pop((str(cell.run_dir), cell.cell_id), None)
    if log is not None:
        log.finish(tensorboard.identity(cell.cell_id, cell.dataset, cell.model, cell.loss, cell.seed,
                                        cell.config.get("model_options"), cell.config.get("loss_options")),
                   cell.config.get("settings") or {}, row)
