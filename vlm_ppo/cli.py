"""``vlm-ppo``: train, evaluate, plot, and build tiny offline models.

    vlm-ppo train --env-id gym_cards/NumberLine-v0 [--model PATH] [--config x.yaml] [--num-envs N] [--output-dir DIR] ...
    vlm-ppo train --resume RUN_DIR
    vlm-ppo eval (--model PATH | --checkpoint DIR) --env gym_cards/NumberLine-v0 --episodes 200 --seed 0
    vlm-ppo plot RUN_DIR
    vlm-ppo sft-data --env gym_cards/NumberLine-v0 --episodes 200 --out data/nl [--noise 0.3]
    vlm-ppo sft --data data/nl [--model PATH] --output-dir runs/sft [--no-lora] [--resume runs/sft]
    vlm-ppo init-tiny OUT_DIR [--architecture llava]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # models are local directories; never reach for a hub


ALFWORLD_ID = "alfworld/ALFWorld-v0"


def _env_options(env_id: str | None, env_kwargs: dict | None, games: str | None) -> tuple[str | None, dict | None]:
    """``--env alfworld`` is short for the ALFWorld id; ``--games PATH`` picks its game folder."""
    if env_id == "alfworld":
        env_id = ALFWORLD_ID
    if games is not None:
        env_kwargs = {**(env_kwargs or {}), "games": games}
    return env_id, env_kwargs


def _train(args: argparse.Namespace) -> int:
    from vlm_ppo.config import build_config
    from vlm_ppo.trainer import Trainer

    args.env_id, args.env_kwargs = _env_options(args.env_id, args.env_kwargs, args.games)
    config = build_config(args, config_file=args.config)
    run_dir = Trainer(config, resume=args.resume).train()
    print(f"run directory: {run_dir}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    import json

    from vlm_ppo.checkpoint import find_checkpoint, read_meta
    from vlm_ppo.config import TrainConfig
    from vlm_ppo.evaluation import evaluate_policy
    from vlm_ppo.model_loading import build_policy, resolve_device

    args.env, games_kwargs = _env_options(args.env, None, args.games)
    checkpoint = None
    if args.checkpoint is not None:
        checkpoint = find_checkpoint(args.checkpoint)
        config = TrainConfig(**read_meta(checkpoint)["config"])
        if args.model is not None:
            config.model = args.model
    else:
        config = TrainConfig(model=args.model, env_id=args.env or TrainConfig.env_id, lora_r=8, lora_alpha=16)
    for key in ("temperature", "max_new_tokens", "device"):
        if getattr(args, key) is not None:
            setattr(config, key, getattr(args, key))
    if args.text_only is not None:
        config.text_only = args.text_only
    if args.chain_of_thought is not None:
        config.chain_of_thought = args.chain_of_thought
    env_id = args.env or config.env_id
    policy = build_policy(config, resolve_device(config.device), checkpoint, trainable=False)
    result = evaluate_policy(
        policy,
        env_id,
        args.episodes,
        seed=args.seed,
        batch=args.num_envs,
        chain_of_thought=config.chain_of_thought,
        text_only=config.text_only,
        env_kwargs={**(config.env_kwargs if env_id == config.env_id else {}), **(games_kwargs or {})},
        model_name=str(checkpoint or config.model),
    )
    out = Path(args.output) if args.output else (checkpoint.parent.parent if checkpoint else Path(".")) / f"eval_{env_id.split('/')[-1]}_seed{args.seed}.json"
    result.to_json(out)
    summary = {k: getattr(result, k) for k in ("env_id", "episodes", "success_rate", "mean_return", "parse_failure_rate")}
    print(json.dumps(summary))
    print(f"wrote {out}")
    return 0


def _sft(args: argparse.Namespace) -> int:
    import dataclasses

    from vlm_ppo.sft import SFTConfig, run_sft

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(SFTConfig) if getattr(args, f.name, None) is not None}
    model_dir = run_sft(SFTConfig(**values), resume=args.resume)
    print(f"fine-tuned model: {model_dir} (use it with vlm-ppo train --model / vlm-ppo eval --model)")
    return 0


def _sft_data(args: argparse.Namespace) -> int:
    from vlm_ppo.sft_data import build_sft_dataset

    args.env, args.env_kwargs = _env_options(args.env, args.env_kwargs, args.games)
    info = build_sft_dataset(
        args.env, args.episodes, args.out, seed=args.seed, noise=args.noise, chain_of_thought=args.chain_of_thought,
        text_only=args.text_only, env_kwargs=args.env_kwargs,
    )
    print(f"wrote {info.records} records ({info.mistakes} deliberate mistakes) from {info.episodes} episodes to {args.out}; expert success {info.success_rate:.1%}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from vlm_ppo.plotting import plot_run

    print(f"wrote {plot_run(args.run_dir, args.out)}")
    return 0


def _init_tiny(args: argparse.Namespace) -> int:
    from vlm_ppo.tiny import build_tiny_model

    path = build_tiny_model(
        args.output_dir, architecture=args.architecture, image_size=args.image_size,
        hidden_size=args.hidden_size, num_layers=args.num_layers, seed=args.seed,
        image_mean=args.image_mean, image_std=args.image_std,
    )
    print(f"built a tiny random-weight {args.architecture} smoke-test model at {path}")
    return 0


def parser() -> argparse.ArgumentParser:
    from vlm_ppo.config import add_config_flags
    from vlm_ppo.sft import SFTConfig
    from vlm_ppo.tiny import ARCHITECTURES, WHITE_ZERO_MEAN, WHITE_ZERO_STD

    main = argparse.ArgumentParser(prog="vlm-ppo", description="PPO fine-tuning of vision-language models on decision-making tasks.")
    commands = main.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a policy with PPO")
    train.add_argument("--config", help="YAML file of config values (flags override it)")
    train.add_argument("--resume", help="a run directory or checkpoint to continue exactly")
    add_config_flags(train)
    train.add_argument("--env", dest="env_id", help="the env id (same as --env-id); 'alfworld' for ALFWorld")
    train.add_argument("--games", help="ALFWorld: a folder of games, or 'shipped' (default: $ALFWORLD_DATA)")
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("eval", help="evaluate a model or checkpoint on held-out seeds")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="a Hugging Face model directory")
    source.add_argument("--checkpoint", help="a vlm-ppo checkpoint (or run directory: its newest checkpoint)")
    evaluate.add_argument("--env", help="env id (default: the checkpoint's); 'alfworld' for ALFWorld")
    evaluate.add_argument("--games", help="ALFWorld: a folder of games, or 'shipped'")
    evaluate.add_argument("--episodes", type=int, default=200)
    evaluate.add_argument("--seed", type=int, default=0, help="evaluation seed (episodes use held-out seeds from it)")
    evaluate.add_argument("--num-envs", type=int, default=8, help="episodes played in parallel")
    evaluate.add_argument("--temperature", type=float, default=None)
    evaluate.add_argument("--max-new-tokens", type=int, default=None)
    evaluate.add_argument("--text-only", action=argparse.BooleanOptionalAction, default=None)
    evaluate.add_argument("--chain-of-thought", action=argparse.BooleanOptionalAction, default=None)
    evaluate.add_argument("--device", default=None)
    evaluate.add_argument("--output", help="JSON file to write (default: in the run directory)")
    evaluate.set_defaults(run=_eval)

    data = commands.add_parser("sft-data", help="roll out the expert and write supervised (image, prompt, answer) records")
    data.add_argument("--env", required=True, help="env id, e.g. gym_cards/NumberLine-v0, or 'alfworld'")
    data.add_argument("--games", help="ALFWorld: a folder of games, or 'shipped'")
    data.add_argument("--episodes", type=int, required=True)
    data.add_argument("--out", required=True, help="output directory (must be new or empty)")
    data.add_argument("--seed", type=int, default=0, help="episode k is reset with seed + k")
    data.add_argument("--noise", type=float, default=0.0, help="fraction of expert moves replaced by plausible mistakes")
    data.add_argument("--chain-of-thought", action=argparse.BooleanOptionalAction, default=True)
    data.add_argument("--text-only", action=argparse.BooleanOptionalAction, default=False)
    data.add_argument("--env-kwargs", type=yaml.safe_load, default=None, help="YAML mapping of env options")
    data.set_defaults(run=_sft_data)

    sft = commands.add_parser("sft", help="supervised fine-tuning on sft-data records (answer tokens only)")
    sft.add_argument("--resume", help="an SFT output directory to continue exactly")
    add_config_flags(sft, SFTConfig, required=("data",), title="fine-tuning settings")
    sft.set_defaults(run=_sft)

    plot = commands.add_parser("plot", help="write learning-curve PNGs for a run")
    plot.add_argument("run_dir")
    plot.add_argument("--out", help="PNG path (default RUN_DIR/learning_curves.png)")
    plot.set_defaults(run=_plot)

    tiny = commands.add_parser("init-tiny", help="build a tiny random-weight model offline (smoke tests)")
    tiny.add_argument("output_dir")
    tiny.add_argument("--architecture", choices=ARCHITECTURES, default="llava")
    tiny.add_argument("--image-size", type=int, default=56, help="square image side (multiple of 4)")
    tiny.add_argument("--hidden-size", type=int, default=64, help="64: ~0.3M parameters (smoke tests); 256 with 4 layers: ~5M (can learn)")
    tiny.add_argument("--num-layers", type=int, default=2, help="layers of the vision tower and of the language model")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument("--image-mean", type=float, nargs=3, default=WHITE_ZERO_MEAN, metavar=("R", "G", "B"),
                      help="per-channel pixel mean in [0, 1] (default: white, so a white background is 0)")
    tiny.add_argument("--image-std", type=float, nargs=3, default=WHITE_ZERO_STD, metavar=("R", "G", "B"),
                      help="per-channel pixel std (default 0.5: black is -2)")
    tiny.set_defaults(run=_init_tiny)
    return main


def main(argv: list[str] | None = None) -> int:
    from vlm_ppo.checkpoint import CheckpointError

    args = parser().parse_args(argv)
    if getattr(args, "episodes", 1) < 1:
        print("vlm-ppo: --episodes must be at least 1", file=sys.stderr)
        return 2
    try:
        return args.run(args)
    except (OSError, ValueError, CheckpointError) as error:  # missing/existing files, bad input, broken checkpoints
        print(f"vlm-ppo: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
