"""Run plumbing shared by RL and SFT: seeding, the model to train, the learning-rate schedule, and
the metrics log.

A run directory holds ``config.yaml``, a metrics CSV (``metrics.csv`` for RL, ``sft_metrics.csv``
for SFT) mirrored to TensorBoard (and wandb when asked), ``checkpoints/`` and, without a model
path, the tiny random smoke-test model it built (``tiny_model/``). Files other runs or a resume
read are written whole or not at all: into a temporary sibling, then renamed.
"""

from __future__ import annotations

import csv
import math
import os
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch


class TrainingError(RuntimeError):
    """Training cannot go on (a NaN loss or gradient); the last checkpoint is intact."""


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def cosine_schedule(
    optimizer: torch.optim.Optimizer, init_lr: float, end_lr: float, max_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Half a cosine from ``init_lr`` (step 0) to ``end_lr`` (step ``max_steps``), then ``end_lr``.

    ``lr(s) = end + (init - end) · ½(1 + cos(π · min(s, max_steps) / max_steps))``. torch's
    ``CosineAnnealingLR`` would climb back up after ``max_steps``, hence ``LambdaLR``. Step it once
    per PPO update (``ppo_update`` does), or per SFT optimizer step.

    :param optimizer: created with ``lr=init_lr``; a param group with another lr follows the same
        curve scaled by ``its lr / init_lr``.
    :param init_lr: learning rate at step 0.
    :param end_lr: learning rate from step ``max_steps`` on.
    :param max_steps: updates over which the learning rate decays.
    """
    if init_lr <= 0 or max_steps < 1:
        raise ValueError(f"need init_lr > 0 and max_steps >= 1, got {init_lr=}, {max_steps=}")

    def lr_factor(step: int) -> float:
        progress = min(step, max_steps) / max_steps
        return (end_lr + (init_lr - end_lr) * 0.5 * (1 + math.cos(math.pi * progress))) / init_lr

    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)


def retarget_schedule(optimizer: torch.optim.Optimizer, scheduler, init_lr: float, **group_settings: float) -> None:
    """Make the run's configured learning rate (and per-group settings such as ``weight_decay``)
    take effect after a resume, from the current step on: the optimizer and scheduler states it
    loaded carry the saved run's (``lr``, ``initial_lr`` and the scheduler's ``base_lrs``), so a
    learning rate given with ``--resume`` would otherwise be reported and silently ignored.
    A group's ``lr_scale`` (default 1) keeps its rate that multiple of ``init_lr``."""
    scheduler.base_lrs = [init_lr * group.get("lr_scale", 1.0) for group in optimizer.param_groups]
    for group, base, factor in zip(optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
        group.update(group_settings, initial_lr=base, lr=base * factor(scheduler.last_epoch))


def ensure_model(path: str | None, run_dir: Path, text_only: bool, say: Callable[[str], None]) -> str:
    """The model path to train; without one, a tiny random model is built into the run directory
    (atomically, so a killed build leaves nothing half-written behind; the same model each time,
    and without touching the global random generators) and its absolute path returned."""
    if path is not None:
        return path
    from vlm_ppo.checkpoint import atomic_directory
    from vlm_ppo.tiny import build_tiny_model

    target = (run_dir / "tiny_model").resolve()  # absolute in the saved config: a resume may start elsewhere
    if not (target / "config.json").exists():
        with atomic_directory(target) as staging:
            build_tiny_model(staging, architecture="text" if text_only else "llava", seed=0)
    say(
        f"NOTE: no --model given; training a tiny RANDOM-WEIGHT smoke-test model built at {target}. It tests "
        "the pipeline, it will not learn the game like a real VLM."
    )
    return str(target)


def replace_file(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through ``write(temporary)`` and rename it into place: readers see the old
    file or the new one, never half of one."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a metrics CSV (an empty or header-only file has none); a file that is not
    text is one ValueError naming it."""
    if not path.exists():
        return []
    try:
        with open(path, newline="") as file:
            return list(csv.DictReader(file))
    except (UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"{path} is not a readable metrics CSV ({error})") from None


class MetricsLog:
    """One CSV row per step of a run (an RL update, an SFT optimizer step), mirrored to
    TensorBoard and, when asked, to wandb. Only the main process writes.

    :param path: the CSV file.
    :param columns: its columns; the first is the step counter rows are keyed by.
    :param resume_after: keep the rows up to this step (a resumed run rewrites the later ones);
        None starts a new file.
    :param tensorboard: a TensorBoard log directory, or None.
    :param wandb_config: start a wandb run with this config (None: no wandb).
    :param x_axis: the column TensorBoard and wandb plot against.
    :param start: write the CSV and start TensorBoard and wandb now; False checks only (the
        CSV can be read, wandb is installed), so that a resume can fail on bad input before it
        removes anything, and :meth:`start` does the writing after.
    """

    def __init__(
        self,
        path: Path,
        columns: Sequence[str],
        resume_after: int | None = None,
        tensorboard: Path | None = None,
        enabled: bool = True,
        wandb_config: Mapping[str, Any] | None = None,
        x_axis: str | None = None,
        start: bool = True,
    ) -> None:
        self.path = path
        self.columns = tuple(columns)
        self.enabled = enabled
        self.x_axis = x_axis or self.columns[0]
        self.writer = None
        self.wandb_run = None
        self._resume_after, self._tensorboard, self._wandb_config = resume_after, tensorboard, wandb_config
        self._started = False
        if not enabled:
            return
        key = self.columns[0]
        self._kept = (
            [row for row in read_csv(path) if _number(row.get(key)) <= resume_after] if resume_after is not None else []
        )
        if wandb_config is not None:
            try:
                import wandb  # noqa: F401
            except ImportError as error:
                raise ImportError("--wandb needs the wandb package: pip install wandb") from error
        if start:
            self.start()

    def start(self, wandb_config: Mapping[str, Any] | None = None) -> None:
        """Rewrite the CSV (a resumed run keeps the rows up to its checkpoint) and open the
        TensorBoard and wandb logs; once. ``wandb_config`` replaces the one given at construction
        (a run's settings can be completed in between, e.g. the path of a model built for it)."""
        if not self.enabled or self._started:
            return
        self._started = True
        if wandb_config is not None and self._wandb_config is not None:
            self._wandb_config = wandb_config
        kept, resume_after, tensorboard = self._kept, self._resume_after, self._tensorboard

        def write(temporary: Path) -> None:
            with open(temporary, "w", newline="") as file:
                writer = csv.DictWriter(file, self.columns, extrasaction="ignore", restval="nan")
                writer.writeheader()
                writer.writerows(kept)

        replace_file(self.path, write)
        if tensorboard is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                # A resumed run rewrites the steps after its checkpoint: TensorBoard hides what the
                # interrupted run logged from the first of them on, as the CSV drops those rows.
                purge = None
                if resume_after is not None:
                    logged = [_number(row.get(self.x_axis)) for row in kept]
                    purge = int(max((x for x in logged if math.isfinite(x)), default=0)) + 1
                self.writer = SummaryWriter(str(tensorboard), purge_step=purge)
            except ImportError:
                self.writer = None
        if self._wandb_config is not None:
            import wandb

            self.wandb_run = wandb.init(
                project="vlm-ppo", config=dict(self._wandb_config), dir=str(self.path.parent), resume="allow"
            )

    def write(self, metrics: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        self.start()
        with open(self.path, "a", newline="") as file:
            csv.writer(file).writerow([metrics.get(name, float("nan")) for name in self.columns])
        step = int(metrics[self.x_axis])
        if self.writer is not None:
            for name, value in metrics.items():
                if name != self.x_axis and name in self.columns and isinstance(value, (int, float)) and not math.isnan(value):
                    self.writer.add_scalar(name, value, step)
            self.writer.flush()
        if self.wandb_run is not None:
            self.wandb_run.log(dict(metrics), step=step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.wandb_run is not None:
            self.wandb_run.finish()


def _number(text: str | None) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.inf  # a malformed row is dropped when a run resumes
