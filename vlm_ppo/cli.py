"""``vlm-ppo``: train, evaluate, make demonstrations, fine-tune, plot, and build tiny offline models.

    vlm-ppo train --task gym_cards/NumberLine-v0 [--model PATH] [--config x.yaml] [--num-envs N] [--output-dir DIR] ...
    vlm-ppo train --task FrozenLake-v1 --action-words left down right up --task-description "..."
    vlm-ppo train --resume RUN_DIR [--total-env-steps N]
    vlm-ppo eval (--model PATH | --checkpoint DIR) [--task ...] --episodes 200 --seed 0
    vlm-ppo sft-data --task gym_cards/NumberLine-v0 --episodes 200 --out data/nl [--noise 0.3]
    vlm-ppo sft --data data/nl [--model PATH] --output-dir runs/sft [--no-lora] [--resume runs/sft]
    vlm-ppo plot RUN_DIR
    vlm-ppo init-tiny OUT_DIR [--architecture llava]
    vlm-ppo convert MODEL.gguf OUT_DIR

Bad input (a wrong value, a missing file, a corrupt checkpoint) is one line on stderr and exit
code 2; a run that cannot go on (a NaN loss) is one line and exit code 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # models are local directories; never reach for a hub


class OneLineErrors(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the problem (exit code 2)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _task_flags(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument(
        "--task",
        "--env",
        "--env-id",
        dest="task",
        required=required,
        help="a registered task, module:factory, or a Gymnasium env id; 'alfworld' for ALFWorld",
    )
    parser.add_argument("--games", help="ALFWorld: a folder of games, or 'shipped' (default: $ALFWORLD_DATA)")


def _with_games(env_kwargs: dict | None, games: str | None) -> dict | None:
    """``--games PATH`` picks ALFWorld's game folder."""
    from vlm_ppo.config import check_env_kwargs

    check_env_kwargs(env_kwargs, "--env-kwargs")  # every command's --env-kwargs passes here or through eval's check
    return env_kwargs if games is None else {**(env_kwargs or {}), "games": games}


def _train(args: argparse.Namespace) -> int:
    from vlm_ppo.config import build_config, given_values, load_yaml, merge
    from vlm_ppo.trainer import Trainer

    if args.games is not None:
        args.env_kwargs = _with_games(args.env_kwargs, args.games)
    if args.resume is not None:
        from vlm_ppo.config import TrainConfig

        given = merge(load_yaml(args.config) if args.config else {}, given_values(args, TrainConfig), TrainConfig)
        trainer = Trainer.resume(args.resume, **given)
    else:
        trainer = Trainer(build_config(args, config_file=args.config))
    print(f"run directory: {trainer.train()}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from vlm_ppo.checkpoint import moved_base_model, read_state, require
    from vlm_ppo.config import ModelConfig, TrainConfig, check_env_kwargs, config_from_dict
    from vlm_ppo.evaluation import evaluate_policy
    from vlm_ppo.model_loading import build_policy, resolve_device
    from vlm_ppo.run import seed_everything
    from vlm_ppo.tasks import make_task, refuse_unasked_import
    from vlm_ppo.trainer import find_checkpoint

    if args.model is None and args.checkpoint is None:
        raise ValueError("eval needs --model or --checkpoint")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError(
            "vlm-ppo eval runs in one process (every launched process would play the same episodes); run it "
            "without torchrun or accelerate launch"
        )
    if args.num_envs < 1:
        raise ValueError(f"--num-envs must be at least 1, got {args.num_envs}")
    checkpoint = None
    if args.checkpoint is not None:
        checkpoint = find_checkpoint(args.checkpoint)
        state = read_state(checkpoint, "rl")
        require(state, checkpoint, {"config": dict})
        config = config_from_dict(TrainConfig, state["config"], f"{checkpoint}'s config")
        if args.model is not None:  # the run's base model at another path: the same model, or refused
            config.model.path = moved_base_model(state, {"model": {"path": args.model}}) or args.model
    else:
        config = TrainConfig(model=ModelConfig(path=args.model, lora_r=8, lora_alpha=16), task=args.task or TrainConfig.task)
    # replace() checks the values as the config's own (a temperature of 0 or nan was taken as given);
    # the model's are set after, since evaluation may use what training refuses (float16).
    model = dataclasses.replace(
        config.model, **{key: getattr(args, key) for key in ("device", "dtype") if getattr(args, key) is not None}
    )
    changes = {
        key: getattr(args, key)
        for key in ("temperature", "max_new_tokens", "text_only", "chain_of_thought")
        if getattr(args, key) is not None
    }
    config = dataclasses.replace(config, **changes)
    config.model = model
    if not 0 <= args.seed < 2**32:
        raise ValueError(f"--seed must be at least 0 and below 2**32, got {args.seed}")
    if checkpoint is not None and args.task is None:
        refuse_unasked_import(config.task, checkpoint)
    same_task = args.task in (None, config.task)
    task_name = args.task or config.task
    task = make_task(
        task_name,
        args.action_words or (config.action_words if same_task else None),
        args.task_description or (config.task_description if same_task else None),
    )
    check_env_kwargs(args.env_kwargs, "--env-kwargs")
    env_kwargs = _with_games({**(config.env_kwargs if same_task else {}), **(args.env_kwargs or {})}, args.games)
    task.make_agent_env(
        config.chain_of_thought, config.text_only, **(env_kwargs or {})
    ).close()  # a wrong env fails before any model loads
    policy = build_policy(config, resolve_device(config.model.device), checkpoint, trainable=False)
    seed_everything(args.seed)  # the sampling too: the same command gives the same episodes
    result = evaluate_policy(
        policy,
        task,
        args.episodes,
        seed=args.seed,
        batch=args.num_envs,
        chain_of_thought=config.chain_of_thought,
        text_only=config.text_only,
        env_kwargs=env_kwargs,
        model_name=str(checkpoint or config.model.path),
    )
    default_dir = checkpoint.parent.parent if checkpoint is not None else Path(".")
    out = Path(args.output) if args.output else default_dir / f"eval_{task.name.split('/')[-1]}_seed{args.seed}.json"
    result.to_json(out)
    summary = json.loads(out.read_text())
    keys = ("env_id", "episodes", "success_rate", "mean_return", "parse_failure_rate", "unfinished_answer_rate")
    print(json.dumps({k: summary[k] for k in keys}))
    print(f"wrote {out}")
    return 0


def _sft(args: argparse.Namespace) -> int:
    from vlm_ppo.config import build_config, given_values, load_yaml, merge
    from vlm_ppo.sft import SFTConfig, run_sft

    if args.resume is not None:
        given = merge(load_yaml(args.config) if args.config else {}, given_values(args, SFTConfig), SFTConfig)
        model_dir = run_sft(None, resume=args.resume, given=given)
    else:
        if args.data is None and not args.config:
            raise ValueError("vlm-ppo sft needs --data (a directory written by vlm-ppo sft-data), or --resume")
        model_dir = run_sft(build_config(args, config_file=args.config, config_class=SFTConfig))
    print(f"fine-tuned model: {model_dir} (use it with vlm-ppo train --model / vlm-ppo eval --model)")
    return 0


def _sft_data(args: argparse.Namespace) -> int:
    from vlm_ppo.sft_data import build_sft_dataset

    info = build_sft_dataset(
        args.task,
        args.episodes,
        args.out,
        seed=args.seed,
        noise=args.noise,
        chain_of_thought=args.chain_of_thought,
        text_only=args.text_only,
        env_kwargs=_with_games(args.env_kwargs, args.games),
        action_words=args.action_words,
        task_description=args.task_description,
    )
    print(
        f"wrote {info.records} records ({info.mistakes} deliberate mistakes) from {info.episodes} episodes to "
        f"{args.out}; expert success {info.success_rate:.1%}"
    )
    return 0


def _plot(args: argparse.Namespace) -> int:
    from vlm_ppo.plotting import plot_run

    print(f"wrote {plot_run(args.run_dir, args.out)}")
    return 0


def _init_tiny(args: argparse.Namespace) -> int:
    from vlm_ppo.tiny import build_tiny_model

    path = build_tiny_model(
        args.output_dir,
        architecture=args.architecture,
        image_size=args.image_size,
        patches=args.patches,
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        seed=args.seed,
        image_mean=args.image_mean,
        image_std=args.image_std,
    )
    print(f"built a tiny random-weight {args.architecture} smoke-test model at {path}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from vlm_ppo.gguf import convert_gguf

    print(f"wrote {convert_gguf(args.gguf_file, args.output_dir)} (use it with --model and --text-only)")
    return 0


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    from vlm_ppo.config import add_config_flags, yaml_value
    from vlm_ppo.sft import SFTConfig
    from vlm_ppo.tiny import ARCHITECTURES, WHITE_ZERO_MEAN, WHITE_ZERO_STD

    main = OneLineErrors(prog="vlm-ppo", description="RL fine-tuning of vision-language models on decision-making tasks.")
    commands = main.add_subparsers(dest="command", required=True, parser_class=OneLineErrors)

    train = commands.add_parser("train", help="train a policy with RL (PPO)")
    train.add_argument("--config", help="YAML file of config values (flags override it)")
    train.add_argument("--resume", help="a run directory or checkpoint to continue exactly, with its own settings")
    add_config_flags(train)
    train.add_argument("--env", "--env-id", dest="task", help="same as --task")
    train.add_argument("--games", help="ALFWorld: a folder of games, or 'shipped' (default: $ALFWORLD_DATA)")
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("eval", help="evaluate a model or checkpoint on held-out seeds")
    evaluate.add_argument(
        "--model",
        help="a Hugging Face model directory; with --checkpoint, the base model its adapter was trained on, "
        "where it has moved since",
    )
    evaluate.add_argument(
        "--checkpoint", help="a vlm-ppo checkpoint (or run directory, or its checkpoints/: the newest checkpoint)"
    )
    _task_flags(evaluate)
    evaluate.add_argument("--action-words", nargs="+", help="for a Gymnasium env id: the word of each action")
    evaluate.add_argument("--task-description", help="for a Gymnasium env id: what the task is")
    evaluate.add_argument("--episodes", type=_positive, default=200)
    evaluate.add_argument(
        "--seed",
        type=_non_negative,
        default=0,
        help="evaluation seed (episodes use held-out seeds from it; it seeds the sampling too)",
    )
    evaluate.add_argument("--num-envs", type=int, default=8, help="episodes played in parallel")
    evaluate.add_argument("--temperature", type=float, default=None)
    evaluate.add_argument("--max-new-tokens", type=_positive, default=None)
    evaluate.add_argument("--text-only", action=argparse.BooleanOptionalAction, default=None)
    evaluate.add_argument("--chain-of-thought", action=argparse.BooleanOptionalAction, default=None)
    evaluate.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None)
    evaluate.add_argument("--dtype", choices=("auto", "float32", "bfloat16", "float16"), default=None)
    evaluate.add_argument(
        "--env-kwargs", type=yaml_value, default=None, help="YAML mapping of env options, over the checkpoint's own"
    )
    evaluate.add_argument("--output", help="JSON file to write (default: in the run directory)")
    evaluate.set_defaults(run=_eval)

    data = commands.add_parser("sft-data", help="play the task's expert and write supervised (image, prompt, answer) records")
    _task_flags(data, required=True)
    data.add_argument("--action-words", nargs="+", help="for a Gymnasium env id: the word of each action")
    data.add_argument("--task-description", help="for a Gymnasium env id: what the task is")
    data.add_argument("--episodes", type=_positive, required=True)
    data.add_argument("--out", required=True, help="output directory (must be new or empty)")
    data.add_argument("--seed", type=_non_negative, default=0, help="episode k is reset with seed + k")
    data.add_argument("--noise", type=float, default=0.0, help="fraction of expert moves replaced by plausible mistakes")
    data.add_argument("--chain-of-thought", action=argparse.BooleanOptionalAction, default=True)
    data.add_argument("--text-only", action=argparse.BooleanOptionalAction, default=False)
    data.add_argument("--env-kwargs", type=yaml_value, default=None, help="YAML mapping of env options")
    data.set_defaults(run=_sft_data)

    sft = commands.add_parser("sft", help="supervised fine-tuning on sft-data records (answer tokens only)")
    sft.add_argument("--config", help="YAML file of fine-tuning settings (flags override it)")
    sft.add_argument("--resume", help="an SFT output directory to continue exactly, with its own settings")
    add_config_flags(sft, SFTConfig, title="fine-tuning settings")
    sft.set_defaults(run=_sft)

    plot = commands.add_parser("plot", help="write learning-curve PNGs for a run")
    plot.add_argument("run_dir")
    plot.add_argument("--out", help="PNG path (default RUN_DIR/learning_curves.png)")
    plot.set_defaults(run=_plot)

    tiny = commands.add_parser("init-tiny", help="build a tiny random-weight model offline (smoke tests)")
    tiny.add_argument("output_dir")
    tiny.add_argument("--architecture", choices=ARCHITECTURES, default="llava")
    tiny.add_argument(
        "--image-size", type=_positive, default=56, help="square image side (a multiple of --patches; of 28 for Qwen-VL)"
    )
    tiny.add_argument("--patches", type=_positive, default=4, help="patches per image side (LLaVA, LLaVA-NeXT, Idefics3)")
    tiny.add_argument(
        "--hidden-size",
        type=_positive,
        default=64,
        help="64: ~0.3M parameters (smoke tests); 256 with 4 layers: ~5M (can learn)",
    )
    tiny.add_argument("--num-layers", type=_positive, default=2, help="layers of the vision tower and of the language model")
    tiny.add_argument("--seed", type=_non_negative, default=0)
    tiny.add_argument(
        "--image-mean",
        type=float,
        nargs=3,
        default=WHITE_ZERO_MEAN,
        metavar=("R", "G", "B"),
        help="per-channel pixel mean in [0, 1] (default: white, so a white background is 0)",
    )
    tiny.add_argument(
        "--image-std",
        type=float,
        nargs=3,
        default=WHITE_ZERO_STD,
        metavar=("R", "G", "B"),
        help="per-channel pixel std (default 0.5: black is -2)",
    )
    tiny.set_defaults(run=_init_tiny)

    convert = commands.add_parser("convert", help="a GGUF language model (llama.cpp's format) as a Hugging Face directory")
    convert.add_argument("gguf_file", help="the .gguf file")
    convert.add_argument("output_dir", help="the model directory to write")
    convert.set_defaults(run=_convert)
    return main


def main(argv: list[str] | None = None) -> int:
    from vlm_ppo.checkpoint import CheckpointError
    from vlm_ppo.run import TrainingError

    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except TrainingError as error:
        print(f"vlm-ppo: error: {error}", file=sys.stderr)
        return 1
    except (
        OSError,
        ValueError,
        CheckpointError,
        ImportError,
    ) as error:  # bad input: values, files, checkpoints, missing extras
        print(f"vlm-ppo: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
