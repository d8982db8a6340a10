"""The paper's two-stage pipeline, offline and measured: does our PPO improve a policy?

For each game: build a tiny random-weight model (``vlm-ppo init-tiny``), write noisy expert
demonstrations (``vlm-ppo sft-data --noise``), fine-tune on them (``vlm-ppo sft``), evaluate on
held-out seeds, run PPO from the fine-tuned model (``vlm-ppo train``), evaluate again. Prints a
table (SFT success, PPO success, env steps, wall time per stage) and writes a plot of the PPO
training curves with both held-out evaluations.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/learning_curve.py                      # NumberLine from pixels, ~17 min
    OMP_WAIT_POLICY=PASSIVE python benchmarks/learning_curve.py --games ezpoints blackjack   # text, tiny LM
    OMP_WAIT_POLICY=PASSIVE python benchmarks/learning_curve.py --action-only        # ablation: no thoughts
    OMP_WAIT_POLICY=PASSIVE python benchmarks/learning_curve.py --thought-coefs 0.1 0.3 0.5 0.7 0.9   # λ sweep
    OMP_WAIT_POLICY=PASSIVE python benchmarks/learning_curve.py --kl-coef 0          # ablation: no KL penalty
    OMP_WAIT_POLICY=PASSIVE python benchmarks/learning_curve.py --algos ppo grpo gigpo   # RL methods side by side
    OMP_WAIT_POLICY=PASSIVE python benchmarks/learning_curve.py --smoke              # CI-sized, ~40 s

The thought coefficient λ scales the log-probability of the thought tokens in the PPO ratio (the
paper's Eq. 4.2); a sweep reuses one SFT model and runs one PPO per λ. ``--algos`` runs each RL
method from the same SFT model with the same env-step budget: PPO (the paper's, with its value
head) and the critic-free group methods (GRPO, RLOO, GiGPO: groups of episodes from one start). NumberLine's recipe adds
what the paper does not use: a KL penalty to the SFT model and GAE λ 0.5 (README: how they were
found). Stages whose output is already in ``--out`` are reused (delete the directory to start
over). Every held-out evaluation uses seeds from ``vlm_ppo.evaluation.EVAL_SEED_OFFSET`` on, which
neither the demonstrations (seeds 0..episodes-1) nor PPO's training envs use. Policies sample at
the paper's temperature 0.2 in PPO rollouts and in both evaluations.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import stages  # noqa: E402
from stages import parameter_count, timed  # noqa: E402
from vision_pretraining import pretrain_vision  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Game:
    """One game's benchmark recipe: what the model sees and how much of each stage it gets."""

    env_id: str
    text_only: bool
    """True: the prompt describes the table in words and a tiny Llama reads it (no images)."""
    episodes: int
    """Demonstration episodes (seeds 0..episodes-1)."""
    noise: float
    """Chance per step that a demonstration shows a plausible mistake instead of the expert's move."""
    sft_epochs: int
    ppo_updates: int
    num_envs: int = 16
    num_steps: int = 16
    hidden_size: int = 256
    num_layers: int = 4
    image_size: int = 56
    patches: int = 4
    """Image patches per side of the tiny VLM (8 at 112 px reads a card's rank)."""
    sft_train_vision: str = "none"
    """What SFT trains besides the language model: ``none`` (the random vision tower and projector
    stay as built: enough to read NumberLine's two numbers), ``projector`` or ``all``. On EZPoints
    (112 px) training them at SFT's lr 1e-3 made things worse: every card read as a 2."""
    sft_vision_lr: float | None = None
    """SFT's rate for the vision tower and projector when ``sft_train_vision`` trains them (None: ``sft_lr``)."""
    reading_episodes: int = 0
    """Before SFT, a reading stage: the first frames of this many other deals (seeds from
    ``READING_SEED``), each answer cut to the task's reading fields (Points24: the four cards and the
    formula), for ``reading_epochs``; SFT then starts from that model. 0: none."""
    reading_epochs: int = 2
    """Epochs of the reading stage's SFT (0: its data only, for ``vision_epochs``)."""
    vision_epochs: int = 0
    """Before the reading stage's SFT: epochs of ``vision_pretraining.pretrain_vision`` on its data
    (a linear head per card on the projected image features, the language model untouched),
    standing in for a real VLM's pretrained encoder. Needs ``reading_episodes``. 0: none."""
    reading_fields: tuple[str, ...] = ()
    """The answer fields the reading stage keeps (``()``: all but the thoughts and the action). Points24
    at hidden 512: the cards alone began to be read in 3 epochs where cards + formula had not moved in 2."""
    env_kwargs: dict = dataclasses.field(default_factory=dict)
    """Options of the env (gym.make), in demonstrations, training and evaluation alike."""
    thought_coef: float = 0.5
    """λ of the RL runs unless the command line sweeps it."""
    sft_lr: float = 1e-3
    ppo_lr: float = 3e-5
    """Constant through PPO (full weights, Adam). At temperature 0.2 a step moves the sampled
    distribution 5x as far as at 1; 1e-4 ran away (approx-KL 14) after a good start."""
    ppo_epochs: int = 4
    clip_range: float = 0.2
    max_grad_norm: float = 5.0
    value_coef: float = 0.5
    target_kl: float | None = 1.0
    kl_coef: float = 0.0
    """β of the KL penalty to the SFT model (``TrainConfig.kl_coef``); it keeps the JSON and the
    reading of the numbers intact while the decision word moves."""
    gamma: float = 0.9
    """The discount of PPO's returns (the paper's and ``TrainConfig``'s 0.9)."""
    gae_lambda: float = 0.95
    """0.5 for NumberLine, whose reward already says whether a step was right: the value head
    explains almost nothing for the first updates, so long-horizon advantages are mostly noise."""
    max_new_tokens: int = 64
    eval_episodes: int = 200
    group_size: int = 8
    """Group methods: episodes per group (all from one start)."""
    groups_per_update: int = 4
    """Group methods: groups per update."""
    scale_std: bool = True
    """Group methods: GRPO's std scaling (False: Dr. GRPO's mean-centring)."""

    def __post_init__(self) -> None:
        if self.vision_epochs and not self.reading_episodes:
            raise ValueError("vision_epochs needs reading_episodes: the vision stage learns from the reading stage's deals")


DEFAULT_LR = Game.ppo_lr
READING_SEED = 1_000_000
"""First seed of the reading stage's deals: after any demonstration's, below every evaluation's."""
GAMES = {
    "numberline": Game(
        "gym_cards/NumberLine-v0",
        text_only=False,
        episodes=300,
        noise=0.5,
        sft_epochs=3,
        ppo_updates=12,
        kl_coef=0.1,
        gae_lambda=0.5,
    ),
    "ezpoints": Game(
        "gym_cards/EZPoints-v0", text_only=True, episodes=300, noise=0.3, sft_epochs=3, ppo_updates=8, max_new_tokens=96
    ),
    "blackjack": Game("gym_cards/Blackjack-v0", text_only=True, episodes=600, noise=0.5, sft_epochs=3, ppo_updates=8),
    # Told the cards in words, a tiny LM can only remember a formula per set of cards (README, Points24).
    "points24": Game(
        "gym_cards/Points24-v0", text_only=True, episodes=800, noise=0.1, sft_epochs=6, ppo_updates=8, max_new_tokens=96
    ),
}
SMOKE = {
    "numberline": Game(
        "gym_cards/NumberLine-v0",
        text_only=False,
        episodes=40,
        noise=0.0,
        sft_epochs=12,
        ppo_updates=1,
        num_envs=4,
        num_steps=8,
        hidden_size=64,
        num_layers=2,
        sft_lr=3e-3,
        eval_episodes=20,
        kl_coef=0.1,
        gae_lambda=0.5,
    ),
}


def reading_dataset(game: Game, out: Path) -> dict:
    """The reading stage's data: expert play on ``game.reading_episodes`` deals, keeping each
    episode's first record with its answer cut to the reading fields (no thoughts, no action)."""
    from vlm_ppo.sft_data import INFO_FILE, RECORDS_FILE, build_sft_dataset, load_sft_records
    from vlm_ppo.tasks.task import answer_json

    played = out.with_name(out.name + "_played")
    info = build_sft_dataset(
        game.env_id, game.reading_episodes, played, seed=READING_SEED, text_only=game.text_only,
        env_kwargs=game.env_kwargs, progress=False,
    )  # fmt: skip
    first = [record for record in load_sft_records(played) if record.step == 0]
    readings = []
    for record in first:
        answer = json.loads(record.answer)
        kept = game.reading_fields or [key for key in answer if key not in ("thoughts", "action")]
        if missing := set(kept) - answer.keys():
            shutil.rmtree(played)
            raise ValueError(f"reading_fields {sorted(missing)} are not fields of {game.env_id}'s answers {list(answer)}")
        readings.append({key: answer[key] for key in kept})
    (out / "images").mkdir(parents=True)
    with (out / RECORDS_FILE).open("w", encoding="utf-8", newline="\n") as lines:
        for record, reading in zip(first, readings, strict=True):
            if record.image is not None:
                (out / record.image).write_bytes((played / record.image).read_bytes())
            lines.write(json.dumps({**dataclasses.asdict(record), "answer": answer_json(reading)}) + "\n")
    summary = {**dataclasses.asdict(info), "records": len(first)}
    (out / INFO_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(played)
    return {"records": len(first)}


def evaluate(model: str | None, checkpoint: Path | None, game: Game, chain_of_thought: bool, seed: int) -> dict:
    return stages.evaluate(
        game.env_id, game.eval_episodes, model, checkpoint, chain_of_thought, game.text_only, game.max_new_tokens, seed,
        env_kwargs=game.env_kwargs,
    )  # fmt: skip


def run_game(
    name: str,
    game: Game,
    out: Path,
    chain_of_thought: bool,
    thought_coefs: list[float],
    seed: int,
    sft_only: bool = False,
    algos: tuple[str, ...] = ("ppo",),
    rl_seeds: tuple[int, ...] = (0,),
) -> list[dict]:
    """All stages of one game; one result row per RL run (one per λ, algorithm and RL seed; every
    run starts from the same SFT model and is evaluated on the same held-out episodes)."""
    from vlm_ppo.config import ModelConfig, TrainConfig
    from vlm_ppo.sft import SFTConfig, run_sft
    from vlm_ppo.sft_data import build_sft_dataset
    from vlm_ppo.tiny import build_tiny_model

    variant = "cot" if chain_of_thought else "action_only"
    root = out / name
    model_dir = root / "tiny_model"
    data_dir = root / f"data_{variant}"
    sft_dir = root / f"sft_{variant}"
    architecture = "text" if game.text_only else "llava"
    # What each stage's result depends on, nested along the stages it builds on (see stages.timed).
    init_inputs = {
        "architecture": architecture, "image_size": game.image_size, "patches": game.patches,
        "hidden_size": game.hidden_size, "num_layers": game.num_layers, "seed": seed,
    }  # fmt: skip
    data_inputs = {
        "env_id": game.env_id, "episodes": game.episodes, "noise": game.noise, "chain_of_thought": chain_of_thought,
        "text_only": game.text_only, "env_kwargs": game.env_kwargs,
    }  # fmt: skip
    sft_settings = {"lr": game.sft_lr, "vision_lr": game.sft_vision_lr, "train_vision": game.sft_train_vision, "seed": seed}
    eval_settings = {"episodes": game.eval_episodes, "max_new_tokens": game.max_new_tokens, "seed": seed}

    build = timed(
        root / "stage_init.json",
        lambda: {
            "model": str(
                build_tiny_model(
                    model_dir,
                    architecture,
                    image_size=game.image_size,
                    patches=game.patches,
                    hidden_size=game.hidden_size,
                    num_layers=game.num_layers,
                    seed=seed,
                )
            )
        },
        init_inputs,
    )
    data = timed(
        root / f"stage_data_{variant}.json",
        lambda: dataclasses.asdict(
            build_sft_dataset(
                game.env_id,
                game.episodes,
                data_dir,
                seed=0,
                noise=game.noise,
                chain_of_thought=chain_of_thought,
                text_only=game.text_only,
                env_kwargs=game.env_kwargs,
            )
        ),
        data_inputs,
    )

    start_model, start_inputs = build["model"], init_inputs
    if game.reading_episodes:
        reading_dir = root / "data_reading"
        reading_data_inputs = {
            "env_id": game.env_id, "episodes": game.reading_episodes, "text_only": game.text_only,
            "env_kwargs": game.env_kwargs,
        }  # fmt: skip
        if game.reading_fields:  # (absent from stages made before the option, which kept every field)
            reading_data_inputs["fields"] = list(game.reading_fields)
        timed(root / "stage_data_reading.json", lambda: reading_dataset(game, reading_dir), reading_data_inputs)
        if game.vision_epochs:
            vision_inputs = {"model": init_inputs, "data": reading_data_inputs, "epochs": game.vision_epochs, "seed": seed}
            vision_dir = root / "vision_model"
            vision = timed(
                root / "stage_vision.json",
                lambda: {
                    **pretrain_vision(build["model"], reading_dir, vision_dir, epochs=game.vision_epochs, seed=seed),
                    "model": str(vision_dir),
                },
                vision_inputs,
            )
            start_model, start_inputs = vision["model"], vision_inputs
        if game.reading_epochs:
            reading_inputs = {
                "model": start_inputs,
                "data": reading_data_inputs,
                "epochs": game.reading_epochs,
                **sft_settings,
            }
            reading_start = start_model
            reading = timed(
                root / "stage_sft_reading.json",
                lambda: {
                    "model": str(
                        run_sft(
                            SFTConfig(
                                data=str(reading_dir),
                                model=ModelConfig(
                                    path=reading_start, lora=False, device="cpu", train_vision=game.sft_train_vision
                                ),
                                output_dir=str(root / "sft_reading"),
                                epochs=game.reading_epochs,
                                batch_size=16,
                                lr=game.sft_lr,
                                vision_lr=game.sft_vision_lr,
                                seed=seed,
                            )
                        )
                    )
                },
                reading_inputs,
            )
            start_model, start_inputs = reading["model"], reading_inputs

    def fine_tune() -> dict:
        path = run_sft(
            SFTConfig(
                data=str(data_dir),
                model=ModelConfig(path=start_model, lora=False, device="cpu", train_vision=game.sft_train_vision),
                output_dir=str(sft_dir),
                epochs=game.sft_epochs,
                batch_size=16,
                lr=game.sft_lr,
                vision_lr=game.sft_vision_lr,
                seed=seed,
            )
        )
        with open(sft_dir / "sft_metrics.csv") as handle:
            losses = [float(row["loss"]) for row in csv.DictReader(handle)]
        return {"model": str(path), "first_loss": losses[0], "last_loss": losses[-1], "steps": len(losses)}

    sft_inputs = {"model": start_inputs, "data": data_inputs, "epochs": game.sft_epochs, **sft_settings}
    sft = timed(root / f"stage_sft_{variant}.json", fine_tune, sft_inputs)
    sft_eval = timed(
        root / f"stage_sft_eval_{variant}.json",
        lambda: evaluate(sft["model"], None, game, chain_of_thought, seed),
        {"model": sft_inputs, **eval_settings},
    )
    if sft_only:
        print(f"{name}: SFT success {sft_eval['success_rate']:.1%} on {sft_eval['episodes']} held-out episodes")
        return []
    rows = []
    runs = [(coef, algo, rl_seed) for coef in thought_coefs for algo in algos for rl_seed in rl_seeds]
    for coef, algo, rl_seed in runs:
        tag = (
            f"{variant}"
            + (f"_lambda{coef:g}" if chain_of_thought else "")
            + (f"_kl{game.kl_coef:g}" if game.kl_coef else "")
            + (f"_lr{game.ppo_lr:g}" if game.ppo_lr != DEFAULT_LR else "")
            + (f"_seed{rl_seed}" if rl_seed else "")
        )
        run_dir = root / f"{algo}_{tag}"
        config = TrainConfig(
            task=game.env_id,
            env_kwargs=game.env_kwargs,
            text_only=game.text_only,
            chain_of_thought=chain_of_thought,
            model=ModelConfig(path=sft["model"], lora=False, device="cpu"),
            algo=algo,
            num_envs=game.num_envs,
            num_steps=game.num_steps,
            group_size=game.group_size,
            groups_per_update=game.groups_per_update,
            scale_std=game.scale_std,
            total_env_steps=game.ppo_updates * game.num_envs * game.num_steps,
            seed=seed + rl_seed,
            init_lr=game.ppo_lr,
            end_lr=game.ppo_lr,
            lr_max_steps=game.ppo_updates,
            ppo_epochs=game.ppo_epochs,
            minibatch_size=16,
            grad_accum_steps=1,
            clip_range=game.clip_range,
            max_grad_norm=game.max_grad_norm,
            value_coef=game.value_coef,
            target_kl=game.target_kl,
            kl_coef=game.kl_coef,
            thought_coef=coef,
            gamma=game.gamma,
            gae_lambda=game.gae_lambda,
            max_new_tokens=game.max_new_tokens,
            output_dir=str(run_dir),
            save_every=game.ppo_updates if algo == "ppo" else 10_000,
        )
        run_inputs = stages.rl_inputs(config, sft_inputs)
        ppo = timed(root / f"stage_{algo}_{tag}.json", lambda config=config: stages.train_from_scratch(config), run_inputs)
        ppo_eval = timed(
            root / f"stage_{algo}_eval_{tag}.json",
            lambda run_dir=run_dir, steps=config.total_env_steps: evaluate(
                None, stages.stage_checkpoint(run_dir, steps), game, chain_of_thought, seed
            ),
            {"run": run_inputs, **eval_settings},
        )
        metrics = stages.trained_rows(run_dir, config.total_env_steps)
        rows.append(
            {
                "game": name,
                "env_id": game.env_id,
                "observation": "text" if game.text_only else f"pixels {game.image_size}px",
                "prompt": "chain of thought" if chain_of_thought else "action only",
                "algo": algo,
                "rl_seed": rl_seed,
                "updates": len(metrics),
                "rollout_seconds_per_update": sum(float(m["time/rollout_seconds"]) for m in metrics) / len(metrics),
                "update_seconds_per_update": sum(float(m["time/update_seconds"]) for m in metrics) / len(metrics),
                "thought_coef": coef if chain_of_thought else None,
                "kl_coef": game.kl_coef,
                "lr": game.ppo_lr,
                "gamma": game.gamma,
                "gae_lambda": game.gae_lambda,
                "parameters": parameter_count(build["model"]),
                "sft_records": data["records"],
                "sft_noise": game.noise,
                "sft_steps": sft["steps"],
                "sft_loss_first": sft["first_loss"],
                "sft_loss_last": sft["last_loss"],
                "sft_success": sft_eval["success_rate"],
                "sft_parse_failures": sft_eval["parse_failure_rate"],
                "ppo_success": ppo_eval["success_rate"],
                "ppo_parse_failures": ppo_eval["parse_failure_rate"],
                "sft_metrics": sft_eval.get("metrics", {}),
                "ppo_metrics": ppo_eval.get("metrics", {}),
                "ppo_env_steps": int(metrics[-1]["env_steps"]),
                "eval_episodes": game.eval_episodes,
                "seconds": {
                    "init": build["seconds"],
                    "data": data["seconds"],
                    "sft": sft["seconds"],
                    "sft_eval": sft_eval["seconds"],
                    "ppo": ppo["seconds"],
                    "ppo_eval": ppo_eval["seconds"],
                },
                "ppo_run": str(run_dir),
            }
        )
    return rows


def print_table(rows: list[dict]) -> None:
    header = (
        "game",
        "observation",
        "prompt",
        "RL",
        "λ",
        "KL β",
        "lr",
        "SFT success",
        "RL success",
        "gain",
        "RL env steps",
        "updates",
        "s/update (rollout + update)",
        "SFT min",
        "RL min",
        "total min",
    )
    lines = [header]
    for row in rows:
        seconds = row["seconds"]
        total = sum(seconds.values())
        lines.append(
            (
                row["game"],
                row["observation"],
                row["prompt"],
                row.get("algo", "ppo"),
                "-" if row["thought_coef"] is None else f"{row['thought_coef']:g}",
                f"{row['kl_coef']:g}",
                f"{row.get('lr', DEFAULT_LR):g}",
                f"{row['sft_success']:.1%}",
                f"{row['ppo_success']:.1%}",
                f"{100 * (row['ppo_success'] - row['sft_success']):+.1f}",
                str(row["ppo_env_steps"]),
                str(row.get("updates", "")),
                f"{row.get('rollout_seconds_per_update', 0):.0f} + {row.get('update_seconds_per_update', 0):.0f}",
                f"{seconds['sft'] / 60:.1f}",
                f"{seconds['ppo'] / 60:.1f}",
                f"{total / 60:.1f}",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for k, line in enumerate(lines):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)))
        if k == 0:
            print("  ".join("-" * width for width in widths))


def plot(rows: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    games = list(dict.fromkeys(row["game"] for row in rows))
    figure, axes = plt.subplots(1, len(games), figsize=(5.5 * len(games), 4), squeeze=False)
    for axis, game in zip(axes[0], games):
        for row in (r for r in rows if r["game"] == game):
            metrics = stages.trained_rows(Path(row["ppo_run"]), row["ppo_env_steps"])
            steps = [int(m["env_steps"]) for m in metrics]
            label = row["prompt"] if row["thought_coef"] is None else f"{row['prompt']}, λ={row['thought_coef']:g}"
            label = f"{row.get('algo', 'ppo').upper()}: {label}"
            label += f", KL β={row['kl_coef']:g}" if row["kl_coef"] else ""
            label += f", lr {row['lr']:g}" if row.get("lr", DEFAULT_LR) != DEFAULT_LR else ""
            (line,) = axis.plot(
                steps, [float(m["charts/success_rate"]) for m in metrics], marker=".", label=f"rollouts ({label})"
            )
            axis.scatter([0], [row["sft_success"]], color=line.get_color(), marker="s", zorder=3)
            axis.scatter([steps[-1]], [row["ppo_success"]], color=line.get_color(), marker="*", s=120, zorder=3)
        axis.set_title(f"{game} ({next(r['observation'] for r in rows if r['game'] == game)})")
        axis.set_xlabel("RL env steps")
        axis.set_ylabel("success rate")
        axis.set_ylim(0, 1.02)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, title="■ SFT held-out, ★ RL held-out", title_fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", nargs="+", choices=sorted(GAMES), default=["numberline"])
    parser.add_argument("--out", default="runs/learning_curve", help="run directory (stages found there are reused)")
    parser.add_argument("--action-only", action="store_true", help="ablation: prompts and demonstrations without thoughts")
    parser.add_argument(
        "--thought-coefs",
        type=float,
        nargs="+",
        default=[0.5],
        metavar="λ",
        help="thought coefficients to run PPO with (one SFT model for all)",
    )
    parser.add_argument(
        "--kl-coef",
        type=float,
        default=None,
        metavar="β",
        help="KL penalty to the SFT model instead of the recipe's (0: none, as in the paper)",
    )
    parser.add_argument(
        "--lr",
        type=float,
        nargs="+",
        default=None,
        help="constant RL learning rates instead of the recipe's, each run (tagged with it) from the same SFT model",
    )
    parser.add_argument(
        "--algos",
        nargs="+",
        choices=("ppo", "grpo", "rloo", "gigpo"),
        default=["ppo"],
        help="RL methods, each from the same SFT model",
    )
    parser.add_argument("--rl-seeds", type=int, nargs="+", default=[0], help="RL training seeds, each from the same SFT model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sft-only", action="store_true", help="stop after the SFT model's evaluation")
    parser.add_argument("--smoke", action="store_true", help="CI size: a 0.3M model, 40 clean episodes, one PPO update")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(min(2, torch.get_num_threads()))
    recipes = SMOKE if args.smoke else GAMES
    out = Path(args.out)
    rows = []
    for name in args.games:
        if name not in recipes:
            parser.error(f"--smoke has a recipe only for {sorted(recipes)}")
        game = recipes[name] if args.kl_coef is None else dataclasses.replace(recipes[name], kl_coef=args.kl_coef)
        for lr in args.lr or [game.ppo_lr]:
            rows += run_game(
                name,
                dataclasses.replace(game, ppo_lr=lr),
                out,
                not args.action_only,
                args.thought_coefs if not args.action_only else [0.0],
                args.seed,
                args.sft_only,
                tuple(args.algos),
                tuple(args.rl_seeds),
            )
    if not rows:
        return 0
    print_table(rows)
    name = "_".join(args.games) + ("_action_only" if args.action_only else "")
    if not args.action_only and args.thought_coefs != [0.5]:
        name += "_lambda" + "_".join(f"{coef:g}" for coef in args.thought_coefs)
    if args.kl_coef is not None:
        name += f"_kl{args.kl_coef:g}"
    if args.lr is not None:
        name += "_lr" + "_".join(f"{lr:g}" for lr in args.lr)
    if args.algos != ["ppo"]:
        name += "_" + "_".join(args.algos)
    if args.rl_seeds != [0]:
        name += "_seeds" + "_".join(map(str, args.rl_seeds))
    (out / f"results_{name}.json").write_text(json.dumps(rows, indent=2))
    print(f"wrote {out / f'results_{name}.json'} and {plot(rows, out / f'learning_curve_{name}.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
