"""Training: one set-up (:mod:`~ganbench.train.setup`), one state (:mod:`~ganbench.train.state`),
one GAN update (:func:`~ganbench.train.step.step`) over a task (:mod:`~ganbench.train.task`: what a
batch is), driven by the serial loop (:func:`run_training`). Cells, the plan's speed probe, the
contract tests and ``benchmarks/`` all train through :func:`run_training`."""

from ganbench.train.divergence import EXPLOSION, Diverged, TrainingError, divergence, nonfinite_samples
from ganbench.train.ema import ema_beta, update_ema
from ganbench.train.loop import TrainResult, run_training
from ganbench.train.losses import BoundLoss
from ganbench.train.step import HISTORY_COLUMNS
from ganbench.train.task import BatchSampler, generate

__all__ = ["EXPLOSION", "HISTORY_COLUMNS", "BatchSampler", "BoundLoss", "Diverged", "TrainResult", "TrainingError",
           "divergence", "ema_beta", "generate", "nonfinite_samples", "run_training", "update_ema"]
