"""The RL loop: collect a rollout with the VLM, update it, log, checkpoint.

Runs the same on one CPU process and under ``torchrun``/``accelerate launch`` on many: each
process steps its own envs (their episodes seeded by rank), updates through ``accelerate``
(gradients averaged across processes), and only the main process writes logs and checkpoints.
Episode statistics, and at a checkpoint every process's RNG and env states, are gathered from
every process first, so a resumed run continues exactly on every rank.

The loop knows no task and no algorithm in particular: the task (:mod:`vlm_ppo.tasks`) makes
the envs and judges episodes; collection (:mod:`vlm_ppo.rollout`) fills the buffer, and the
update (:func:`vlm_ppo.ppo.ppo_update`) consumes it with one settings object.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from vlm_ppo.buffer import VLMRolloutBuffer
from vlm_ppo.checkpoint import (
    CheckpointError,
    drop_later_checkpoints,
    find_latest,
    generator_from_state,
    generator_state,
    load_optimizer,
    model_fingerprint,
    moved_base_model,
    read_state,
    require,
    restore_rng,
    rng_state,
    run_of,
    save_checkpoint,
)
from vlm_ppo.config import TRAIN_FIXED_ON_RESUME, ConfigError, TrainConfig, resume_config, to_dict
from vlm_ppo.model_loading import build_policy, parameter_groups, resolve_device, trainable_summary
from vlm_ppo.policy import VLMPolicy
from vlm_ppo.ppo import NonFiniteError, UpdateSettings, ppo_update
from vlm_ppo.rollout import GroupCollector, SeededEnvs, StepCollector
from vlm_ppo.run import MetricsLog, TrainingError, cosine_schedule, ensure_model, retarget_schedule, seed_everything
from vlm_ppo.tasks import make_task, refuse_unasked_import

METRICS = (
    "update",
    "env_steps",
    "charts/episodic_return",
    "charts/success_rate",
    "charts/episode_length",
    "charts/episodes",
    "charts/parse_failure_rate",
    "charts/unfinished_answer_rate",
    "charts/update_env_steps",
    "charts/groups_all_equal",
    "charts/anchor_repeat_rate",
    "charts/learning_rate",
    "losses/policy_loss",
    "losses/value_loss",
    "losses/approx_kl",
    "losses/reference_kl",
    "losses/clip_fraction",
    "losses/explained_variance",
    "losses/grad_norm",
    "losses/optimizer_steps",
    "time/rollout_seconds",
    "time/update_seconds",
    "time/SPS",
)
TIME_METRICS = tuple(name for name in METRICS if name.startswith("time/"))
# Mixed into the minibatch-shuffling seed so it never reproduces an env's generator.
_BUFFER_STREAM = 0xB0FFE5


def find_checkpoint(path: str | Path) -> Path:
    """An RL checkpoint directory itself, or the newest checkpoint of a run directory."""
    return find_latest(path, "update_*")


class Trainer:
    """RL on one task with one policy; ``train()`` runs until ``config.total_env_steps``.

    Fresh: ``Trainer(config).train()``. To continue a run exactly, with its own settings:
    ``Trainer.resume(run_dir, total_env_steps=30_000).train()``.

    :param config: the run's configuration (written to ``output_dir/config.yaml``).
    :param accelerator: an ``accelerate.Accelerator``; one is made when None.
    """

    def __init__(
        self, config: TrainConfig, accelerator=None, checkpoint: Path | None = None, state: dict[str, Any] | None = None
    ) -> None:
        from accelerate import Accelerator, DistributedDataParallelKwargs

        self.config = config
        device = resolve_device(config.model.device)
        # With train_vision="all", LLaVA's last vision layer feeds nothing (features come from the
        # layer before it), and DDP must be told to expect parameters without gradients.
        unused = DistributedDataParallelKwargs(find_unused_parameters=config.model.train_vision == "all")
        self.accelerator = accelerator or Accelerator(cpu=device.type == "cpu", kwargs_handlers=[unused])
        # accelerate's own mixed precision wraps only the prepared module's forward (the update),
        # not ``generate`` (the rollout): old and new log-probs would come from two precisions.
        mixed = getattr(self.accelerator, "mixed_precision", "no")
        if mixed != "no":
            raise ValueError(
                f"accelerate is set to mixed precision {mixed!r}, which would autocast the update but not the "
                "rollout, so the PPO ratio would compare two precisions; launch with --mixed_precision no (or "
                "ACCELERATE_MIXED_PRECISION=no) and choose the precision with --dtype (bfloat16 runs rollout and "
                "update alike, with float32 master weights)"
            )
        accumulation = getattr(self.accelerator, "gradient_accumulation_steps", 1)
        if accumulation != 1:
            raise ValueError(
                f"accelerate is set to accumulate gradients over {accumulation} steps, which would divide every "
                "loss again on top of the update's own averaging; launch with --gradient_accumulation_steps 1 "
                "(or ACCELERATE_GRADIENT_ACCUMULATION_STEPS=1) and set --grad-accum-steps instead"
            )
        if str(getattr(self.accelerator, "distributed_type", "")).endswith("DEEPSPEED"):
            raise ValueError(
                "DeepSpeed is not supported (its engine steps and clips on its own); launch with torchrun or "
                "accelerate --multi_gpu"
            )
        self.is_main = self.accelerator.is_main_process
        rank = self.accelerator.process_index
        if state is not None and len(state["ranks"]) != self.accelerator.num_processes:
            raise CheckpointError(
                f"checkpoint {checkpoint} was written by {len(state['ranks'])} processes; resume it with as "
                f"many (this run has {self.accelerator.num_processes})"
            )
        self.run_dir = Path(config.output_dir)
        earlier = sorted((self.run_dir / "checkpoints").glob("update_*"))
        if checkpoint is None and earlier:
            raise FileExistsError(
                f"{self.run_dir} holds checkpoints of an earlier run (up to {earlier[-1].name}): resume it with "
                "--resume (Trainer.resume), or choose another output_dir"
            )
        # The task makes the envs first: a wrong task or env fails here, before any model loads.
        self.task = make_task(config.task, config.action_words, config.task_description)
        # The log checks what it needs (a readable metrics.csv to resume, wandb) before the run
        # writes anything; it writes only once the resume has nothing left to fail on.
        self.log = MetricsLog(
            self.run_dir / "metrics.csv",
            METRICS + tuple(self.task.metrics),
            resume_after=state["update"] if checkpoint is not None else None,
            tensorboard=self.run_dir / "tensorboard",
            enabled=self.is_main,
            wandb_config=to_dict(config) if config.wandb else None,
            x_axis="env_steps",
            start=False,
        )
        grouped = config.algo != "ppo"
        env_count = config.groups_per_update * config.group_size if grouped else config.num_envs
        self.envs = SeededEnvs(
            lambda: self.task.make_agent_env(config.chain_of_thought, config.text_only, **config.env_kwargs), env_count
        )
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            config.model.path = ensure_model(config.model.path, self.run_dir, config.text_only, self.say)
        self.accelerator.wait_for_everyone()
        if not self.is_main:
            config.model.path = ensure_model(config.model.path, self.run_dir, config.text_only, lambda _: None)
        # To recognise the base model at another path when the run is resumed or evaluated elsewhere.
        self.base_model_fingerprint = model_fingerprint(config.model.path) if self.is_main else None
        # Process 0 keeps the run's seed; the others draw theirs from it (seed + 1000·rank made
        # process 1 of seed 0 sample as process 0 of seed 1000).
        seed_everything(config.seed if rank == 0 else int(np.random.SeedSequence([config.seed, rank]).generate_state(1)[0]))

        device = self.accelerator.device
        self.policy = build_policy(config, device, checkpoint, trainable=True)
        if self.is_main and checkpoint is None:  # once the model has loaded: a wrong model leaves no run behind
            config.to_yaml(self.run_dir / "config.yaml")
        self.say(f"policy: {trainable_summary(self.policy)}")
        groups = parameter_groups(self.policy, config.init_lr, config.vision_lr)
        self.optimizer = torch.optim.Adam(groups, lr=config.init_lr)
        self.scheduler = cosine_schedule(self.optimizer, config.init_lr, config.end_lr, config.lr_max_steps)
        self.policy, self.optimizer = self.accelerator.prepare(self.policy, self.optimizer)
        self.settings = UpdateSettings.from_config(config)

        image_space = self.envs.envs[0].observation_space.spaces.get("image")
        image_shape = None if image_space is None else image_space.shape
        self.shuffle_rng = np.random.default_rng([_BUFFER_STREAM, config.seed, rank])  # never an env's stream

        def make_buffer(steps: int, envs: int = 1) -> VLMRolloutBuffer:
            return VLMRolloutBuffer(
                steps, envs, config.max_new_tokens, image_shape, config.gamma, config.gae_lambda,
                pad_token_id=self._policy.pad_token_id, device=device, rng=self.shuffle_rng,
            )  # fmt: skip

        if grouped:
            self.collector = GroupCollector(
                self.task, self.envs, config.groups_per_update, config.group_size, config.seed, rank, config.algo,
                config.scale_std, config.step_advantage_coef, config.gamma, make_buffer, self._largest_over_processes,
            )  # fmt: skip
        else:
            self.collector = StepCollector(
                self.task, self.envs, make_buffer(config.num_steps, config.num_envs), config.seed, rank, config.gamma
            )
        self.update = state["update"] if state is not None else 0
        self.env_steps = 0
        if checkpoint is not None:
            load_optimizer(checkpoint, self.optimizer, self.scheduler)
            retarget_schedule(self.optimizer, self.scheduler, config.init_lr)
            self._restore(state, rank)
            # Only now, with everything restored, does the resume touch the run directory.
            if self.is_main:
                config.to_yaml(self.run_dir / "config.yaml")
                self._drop_later_checkpoints(checkpoint)
            restored = rng_state()
        self.log.start(wandb_config=to_dict(config) if config.wandb else None)
        if checkpoint is not None:
            restore_rng(restored)  # opening the log (wandb) must not draw from the restored generators

    @classmethod
    def resume(cls, path: str | Path, accelerator=None, **given: Any) -> Trainer:
        """Continue the run whose checkpoint (or run directory, for its newest one) is ``path``,
        exactly, in its own directory and with its own settings; only ``given`` values change
        (and the run says which). Settings its saved state depends on cannot change."""
        checkpoint = find_checkpoint(path)
        state = read_state(checkpoint, "rl")
        require(state, checkpoint, {"config": dict, "update": int, "env_steps": int, "ranks": list})
        run_dir = run_of(checkpoint)
        requested = given.pop("output_dir", None)
        if requested is not None and Path(requested).resolve() != run_dir.resolve():
            raise ConfigError(
                f"a resumed run continues in its own directory {run_dir}; copy it to {requested} first to branch off"
            )
        if "task" not in given:
            refuse_unasked_import(state["config"].get("task"), checkpoint)
        saved = {**state["config"], "output_dir": str(run_dir)}
        moved = moved_base_model(state, given)
        if moved is not None:  # the same base model at another path: a move, not a change
            saved = {**saved, "model": {**saved["model"], "path": moved}}
        config, changes = resume_config(TrainConfig, saved, given, TRAIN_FIXED_ON_RESUME)
        trainer = cls(config, accelerator, checkpoint, state)
        trainer.say(
            f"resuming {checkpoint} (update {state['update']})" + (f"; changed: {', '.join(changes)}" if changes else "")
        )
        return trainer

    # -------------------------------------------------------------- helpers
    @property
    def _policy(self) -> VLMPolicy:
        return self.accelerator.unwrap_model(self.policy)

    def say(self, text: str) -> None:
        if self.accelerator.is_main_process:
            tqdm.write(text)

    def _rank_state(self) -> dict[str, Any]:
        return {"rng": rng_state(), "shuffle_rng": generator_state(self.shuffle_rng), "collector": self.collector.state()}

    def _restore(self, state: dict[str, Any], rank: int) -> None:
        """Counters, and this process's RNGs and envs exactly as they were."""
        self.update, self.env_steps = state["update"], state["env_steps"]
        mine = state["ranks"][rank]
        try:
            self.collector.restore(mine["collector"])
            self.shuffle_rng.bit_generator.state = generator_from_state(mine["shuffle_rng"]).bit_generator.state
            restore_rng(mine["rng"])
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as error:
            raise CheckpointError(
                f"the saved state of process {rank} cannot be restored: {type(error).__name__}: {error}"
            ) from None

    def _drop_later_checkpoints(self, checkpoint: Path) -> None:
        later = drop_later_checkpoints(checkpoint, "update_*")
        if later:
            self.say(f"removed the checkpoints after {checkpoint.name}: {', '.join(later)}")

    def _gather(self, values: list) -> list:
        from accelerate.utils import gather_object

        return gather_object(values) if self.accelerator.num_processes > 1 else values

    def _anchor_repeat_rate(self) -> float:
        """GiGPO: the share of the update's steps (every process's) whose state recurs in their
        group, the steps its step-level advantage can reach; NaN for the other algorithms."""
        if self.config.algo != "gigpo":
            return float("nan")
        counts = self._gather([self.collector.anchor_counts])
        steps = sum(total for _, total in counts)
        return sum(repeated for repeated, _ in counts) / steps if steps else float("nan")

    def _largest_over_processes(self, count: int) -> int:
        return max(self._gather([count]))

    def _sum_over_processes(self, count: int) -> int:
        return sum(self._gather([count]))

    def _collect(self, progress) -> tuple[Any, VLMRolloutBuffer, int]:
        """One update's rollout: its episodes, the filled buffer, and this process's env steps."""
        config = self.config
        if isinstance(self.collector, StepCollector):
            episodes = self.collector.collect(self._policy, config.num_steps, config.kl_coef, progress.update)
            return episodes, self.collector.buffer, config.num_steps * config.num_envs
        counted = []
        episodes = self.collector.collect(
            self._policy, config.kl_coef, self.shuffle_rng, lambda n: (counted.append(n), progress.update(n))
        )
        return episodes, self.collector.buffer, sum(counted)

    # ---------------------------------------------------------------- train
    def train(self) -> Path:
        """Run updates until ``config.total_env_steps`` env steps (all processes) have been played;
        returns the run directory."""
        config = self.config
        progress = tqdm(
            total=config.total_env_steps,
            initial=min(self.env_steps, config.total_env_steps),
            unit="step",
            desc="vlm-ppo",
            disable=not self.is_main,
        )
        try:
            while self.env_steps < config.total_env_steps:
                started = time.perf_counter()
                episodes, buffer, local_steps = self._collect(progress)
                update_steps = self._sum_over_processes(local_steps)
                progress.update(update_steps - local_steps)  # the bar counts every process's steps
                self.env_steps += update_steps
                stats = episodes.summary(self.task, self._gather)
                rolled = time.perf_counter()
                try:
                    losses = ppo_update(self.policy, self.optimizer, self.scheduler, buffer, self.settings, self.accelerator)
                except NonFiniteError as error:
                    raise TrainingError(
                        f"update {self.update + 1}: {error}; stopped without saving, the last checkpoint is intact"
                    ) from None
                losses = {
                    k: float(self.accelerator.reduce(torch.tensor(v, device=self.accelerator.device), "mean"))
                    for k, v in losses.items()
                }
                self.update += 1
                finished = time.perf_counter()
                metrics = {
                    "update": self.update,
                    "env_steps": self.env_steps,
                    **stats,
                    "charts/update_env_steps": update_steps,
                    # every process plays as many groups: the mean of their shares is the share of all
                    "charts/groups_all_equal": float(np.mean(self._gather([self.collector.groups_all_equal]))),
                    "charts/anchor_repeat_rate": self._anchor_repeat_rate(),
                    **losses,
                    "time/rollout_seconds": rolled - started,
                    "time/update_seconds": finished - rolled,
                    "time/SPS": local_steps / max(finished - started, 1e-9),
                }
                self.log.write(metrics)
                self.say(
                    f"update {self.update} | steps {self.env_steps}/{config.total_env_steps} | "
                    f"return {metrics['charts/episodic_return']:.3f} | success {metrics['charts/success_rate']:.1%} | "
                    f"parse-fail {metrics['charts/parse_failure_rate']:.1%} | kl {metrics['losses/approx_kl']:.4f} | "
                    f"{finished - started:.1f}s"
                )
                if self.update % config.save_every == 0 or self.env_steps >= config.total_env_steps:
                    self.save()
        finally:
            progress.close()
            self.log.close()
        return self.run_dir

    def save(self) -> Path | None:
        """Checkpoint the current update: every process's state, written by the main process."""
        policy = self._policy
        bad = [name for name, p in policy.named_parameters() if p.requires_grad and not torch.isfinite(p).all()]
        if bad:
            raise TrainingError(
                f"update {self.update}: weights are not finite ({bad[0]}, ...); not saved, the last checkpoint is intact"
            )
        ranks = self._gather([self._rank_state()])
        path = None
        if self.is_main:
            state = {
                "kind": "rl",
                "update": self.update,
                "env_steps": self.env_steps,
                "config": to_dict(self.config),
                "ranks": ranks,
                "base_model": self.base_model_fingerprint,
            }
            value_head = policy.value_head
            path = save_checkpoint(
                self.run_dir / "checkpoints",
                f"update_{self.update:06d}",
                policy.model,
                self.optimizer,
                self.scheduler,
                state,
                value_head,
            )
            self.say(f"checkpoint: {path}")
        self.accelerator.wait_for_everyone()
        return path
