"""The benchmarks' shared stages: cached results, held-out evaluation, and the 95% interval.

Every benchmark here runs the package's own pipeline (demonstrations, SFT, RL, evaluation) through
its Python API and keeps each stage's result as JSON in its output directory, so a rerun continues
where the last one stopped and any single stage can be redone by deleting its file. Evaluation
always plays held-out episodes: seeds from ``vlm_ppo.evaluation.EVAL_SEED_OFFSET`` on, which
neither demonstrations (seeds 0..episodes-1) nor training (seeds below 10^9) use.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A hash of the sources a stage's result can depend on (``gym_cards``, ``vlm_ppo`` with the
    tiny model's corpus, ``benchmarks``): recipe inputs do not say when the code changed."""
    digest = hashlib.sha256()
    files = [p for folder in ("gym_cards", "vlm_ppo", "benchmarks") for p in sorted((_ROOT / folder).rglob("*.py"))]
    files.append(_ROOT / "vlm_ppo" / "tiny_corpus.json.gz")
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def timed(path: Path, work: Callable[[], dict], inputs: dict | None = None) -> dict:
    """Run ``work()`` (a dict of results) unless ``path`` holds its earlier result; record wall time.

    ``inputs`` are what the result depends on (the recipe's fields for this stage, and the
    inputs of the stages it builds on). They are saved with the result, and a saved result made
    from other inputs stops the run, naming what changed: resuming after a recipe was edited must
    not mix stale stages into the new table. A result saved without inputs (before they were
    recorded) is reused with a warning. So is one made by other code (its :func:`code_fingerprint`
    differs): a fix to an expert or an env rule changes no recipe input, and only the user can tell
    whether it matters; deleting the file remakes the stage."""
    wanted = None if inputs is None else json.loads(json.dumps(inputs))
    if path.exists():
        result = json.loads(path.read_text())
        if wanted is not None and "inputs" not in result:
            print(f"warning: {path} records no inputs (written before they were recorded); reusing it unchecked")
        elif wanted is not None and result["inputs"] != wanted:
            changes = "; ".join(f"{key}: {old!r} -> {new!r}" for key, old, new in _differences(result["inputs"], wanted))
            raise SystemExit(
                f"{path} was made from other inputs ({changes}): delete it and the stages after it, or use another --out"
            )
        if result.get("code", code_fingerprint()) != code_fingerprint():
            print(f"warning: {path} was made by other code ({result['code']}, now {code_fingerprint()}); reusing it")
        return result
    started = time.perf_counter()
    result = work()
    result["seconds"] = time.perf_counter() - started
    if wanted is not None:
        result["inputs"] = wanted
    result["code"] = code_fingerprint()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    return result


def rl_inputs(config, model_inputs: dict) -> dict:
    """An RL stage's inputs: its TrainConfig's settings, less where it reads and writes (the model
    it starts from is ``model_inputs``, the inputs of the stage that made it)."""
    settings = dataclasses.asdict(config)
    del settings["output_dir"], settings["model"]["path"]
    return {"model": model_inputs, "config": settings}


def train_from_scratch(config) -> dict:
    """Run an RL stage from its start. Its result was never recorded, so whatever its run directory
    holds is an interrupted attempt's: removed first (the trainer refuses to mix two runs)."""
    import shutil

    from vlm_ppo.trainer import Trainer

    shutil.rmtree(config.output_dir, ignore_errors=True)
    return {"run_dir": str(Trainer(config).train())}


def trained_rows(run_dir: Path, total_env_steps: int) -> list[dict]:
    """The rows of ``metrics.csv`` that the RL stage itself trained: up to the update that reached
    its budget. A run resumed in place later (``vlm-ppo train --resume RUN --total-env-steps ...``)
    appends rows that belong to no stage of this benchmark."""
    import csv

    with open(Path(run_dir) / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for index, row in enumerate(rows):
        if int(float(row["env_steps"])) >= total_env_steps:
            return rows[: index + 1]
    return rows


def stage_checkpoint(run_dir: Path, total_env_steps: int) -> Path:
    """The checkpoint the RL stage ended with (the trainer always saves its last update), not
    whatever a later resume in place made the newest."""
    last = trained_rows(run_dir, total_env_steps)[-1]
    return Path(run_dir) / "checkpoints" / f"update_{int(float(last['update'])):06d}"


def _differences(saved, wanted, prefix: str = "") -> list[tuple[str, object, object]]:
    """(dotted key, saved value, wanted value) for every leaf where two JSON values differ."""
    if isinstance(saved, dict) and isinstance(wanted, dict):
        keys = list(dict.fromkeys([*saved, *wanted]))
        missing = "(absent)"
        return [
            difference
            for key in keys
            for difference in _differences(saved.get(key, missing), wanted.get(key, missing), f"{prefix}{key}.")
        ]
    return [] if saved == wanted else [(prefix.rstrip("."), saved, wanted)]


def load_policy(
    task: str,
    model: str | None = None,
    checkpoint: Path | None = None,
    chain_of_thought: bool = True,
    text_only: bool = False,
    max_new_tokens: int = 64,
    temperature: float = 0.2,
):
    """A frozen policy and its config: a model directory, or an RL run's (latest) checkpoint with
    the run's own config, sampled at ``temperature`` whatever the run trained at."""
    from vlm_ppo.checkpoint import read_state
    from vlm_ppo.config import ModelConfig, TrainConfig, config_from_dict
    from vlm_ppo.model_loading import build_policy, resolve_device
    from vlm_ppo.trainer import find_checkpoint

    if checkpoint is not None:
        checkpoint = find_checkpoint(checkpoint)
        config = config_from_dict(TrainConfig, read_state(checkpoint, "rl")["config"], str(checkpoint))
        config = dataclasses.replace(config, temperature=temperature)
    else:
        config = TrainConfig(
            model=ModelConfig(path=model, device="cpu"), task=task, text_only=text_only, chain_of_thought=chain_of_thought,
            max_new_tokens=max_new_tokens, temperature=temperature,
        )  # fmt: skip
    return build_policy(config, resolve_device(config.model.device), checkpoint, trainable=False), config


def evaluate(
    task: str,
    episodes: int,
    model: str | None = None,
    checkpoint: Path | None = None,
    chain_of_thought: bool = True,
    text_only: bool = False,
    max_new_tokens: int = 64,
    seed: int = 0,
    batch: int = 20,
    env_kwargs: dict | None = None,
    temperature: float = 0.2,
) -> dict:
    """Held-out success (the task's rule) of a model directory or an RL checkpoint, with its 95%
    Wilson interval, mean return, parse failures, unfinished answers and the task's own metrics
    (ALFWorld: success per task type, goal-condition and illegal-action rates); sampled at
    ``temperature`` whatever the checkpoint trained at, so that every row is scored alike."""
    from vlm_ppo.evaluation import evaluate_policy
    from vlm_ppo.run import seed_everything
    from vlm_ppo.tasks import make_task

    policy, config = load_policy(task, model, checkpoint, chain_of_thought, text_only, max_new_tokens, temperature)
    seed_everything(seed)  # the sampling too, so that a stage's result can be made again
    result = evaluate_policy(
        policy, make_task(task), episodes, seed=seed, batch=batch, chain_of_thought=config.chain_of_thought,
        text_only=config.text_only, env_kwargs=env_kwargs if env_kwargs is not None else config.env_kwargs,
    )  # fmt: skip
    low, high = wilson(round(result.success_rate * result.episodes), result.episodes)
    return {
        "success_rate": result.success_rate,
        "success_low": low,
        "success_high": high,
        "mean_return": result.mean_return,
        "parse_failure_rate": result.parse_failure_rate,
        "unfinished_answer_rate": result.unfinished_answer_rate,
        "episodes": result.episodes,
        "metrics": result.metrics,
    }


def wilson(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95% Wilson score interval of a success rate (it stays inside [0, 1], unlike p ± 2σ)."""
    if trials == 0:
        return float("nan"), float("nan")
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def parameter_count(model_dir: str) -> int:
    """Parameters in a model directory's safetensors files."""
    from safetensors import safe_open

    total = 0
    for shard in Path(model_dir).glob("*.safetensors"):
        with safe_open(shard, "pt") as weights:
            total += sum(math.prod(weights.get_slice(key).get_shape()) for key in weights.keys())
    return total
