"""Every bad input is one line naming the problem and exit code 2, before any model loads, and
writes nothing.

One table: the command line (with files it refers to written first), and the words the one
line must hold. A traceback, a second line, or a model load before the error fails the test.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import rewrite_state

from gym_cards.__main__ import main as gym_cards_main
from vlm_ppo.cli import main

TINY = [
    "--num-envs",
    "1",
    "--num-steps",
    "2",
    "--max-new-tokens",
    "4",
    "--lora-r",
    "2",
    "--lora-alpha",
    "4",
    "--value-hidden-sizes",
    "8",
]

SFT_DATA = ["sft-data", "--task", "gym_cards/NumberLine-v0", "--episodes", "1", "--out", "{dir}/data"]
ENV_KWARGS_WORDS = "--env-kwargs must be a YAML mapping of env options"

# (name, files to write {name: text}, argv with {dir} for the temporary directory, words of the error)
CASES = [
    ("bad YAML in --config", {"c.yaml": "num_steps: [\n"}, ["train", "--config", "{dir}/c.yaml"], "is not valid YAML"),
    (
        "a YAML list as --config",
        {"c.yaml": "- 1\n"},
        ["train", "--config", "{dir}/c.yaml"],
        "must hold a mapping of config keys",
    ),
    ("an unknown key in --config", {"c.yaml": "lr: 0.1\n"}, ["train", "--config", "{dir}/c.yaml"], "unknown config keys in"),
    (
        "a wrong type in --config",
        {"c.yaml": "ppo_epochs: abc\n"},
        ["train", "--config", "{dir}/c.yaml"],
        "ppo_epochs must be an integer, got 'abc'",
    ),
    ("a wrong type in a flag", {}, ["train", "--ppo-epochs", "abc"], "argument --ppo-epochs: expected an integer, got 'abc'"),
    ("a value out of range", {}, ["train", "--gamma", "1.5"], "gamma must be between 0 and 1"),
    (
        "float16 training (no loss scaling)",
        {},
        ["train", "--dtype", "float16"],
        "dtype float16 would train without loss scaling",
    ),
    (
        "float16 SFT",
        {},
        ["sft", "--data", "{dir}/none", "--dtype", "float16"],
        "dtype float16 would train without loss scaling",
    ),
    ("4-bit full weights", {}, ["train", "--q4", "--no-lora"], "--q4 needs LoRA"),
    ("SFT in 4 bits", {}, ["sft", "--data", "{dir}/none", "--q4"], "SFT with q4 would merge its LoRA adapters into 4-bit"),
    ("bad YAML in --env-kwargs", {}, ["train", "--env-kwargs", "{a: [1"], "argument --env-kwargs: not valid YAML"),
    ("env kwargs that are a list", {}, ["train", "--env-kwargs", "[1, 2]"], "env_kwargs must be a mapping"),
    (
        "an unknown env option",
        {},
        ["train", "--env-kwargs", "{bogus: 1}", *TINY, "--output-dir", "{dir}/run"],
        "cannot make its env 'gym_cards/NumberLine-v0' with {'bogus': 1}",
    ),
    (
        "an unknown task",
        {},
        ["train", "--env", "gym_cards/NoSuchGame-v0", *TINY, "--output-dir", "{dir}/run"],
        "unknown task 'gym_cards/NoSuchGame-v0'",
    ),
    (
        "a non-Discrete env",
        {},
        ["train", "--task", "Pendulum-v1", "--action-words", "push", "--task-description", "x", "--output-dir", "{dir}/run"],
        "Box action space",
    ),
    (
        "too few action words",
        {},
        ["train", "--task", "CartPole-v1", "--action-words", "left", "--task-description", "x", "--output-dir", "{dir}/run"],
        "has 2 actions but 1 action words",
    ),
    (
        "a missing model directory",
        {},
        ["train", "--model", "{dir}/nope", *TINY, "--output-dir", "{dir}/run"],
        "no Hugging Face model at",
    ),
    (
        "a text model without --text-only",
        {},
        ["train", "--model", "{text_model}", *TINY, "--output-dir", "{dir}/run"],
        "is a text-only language model",
    ),
    ("resume from nowhere", {}, ["train", "--resume", "{dir}/nowhere"], "no checkpoint at"),
    ("resume changing the model", {}, ["train", "--resume", "{run}", "--lora-r", "8"], "cannot change model.lora_r"),
    (
        "resume into another directory",
        {},
        ["train", "--resume", "{run}", "--output-dir", "{dir}/elsewhere"],
        "continues in its own directory",
    ),
    ("a state.json that is a list", {}, ["train", "--resume", "{run_list_state}"], "holds list, not an object"),
    ("a state.json that lacks keys", {}, ["train", "--resume", "{run_no_update}"], "lacks 'update'"),
    (
        "a state.json with an unknown config key",
        {},
        ["train", "--resume", "{run_bogus_key}"],
        "unknown config keys in the checkpoint's config",
    ),
    ("eval of nothing", {}, ["eval", "--episodes", "1"], "eval needs --model or --checkpoint"),
    ("eval with no envs", {}, ["eval", "--model", "{dir}/m", "--num-envs", "0"], "--num-envs must be at least 1"),
    ("eval with a negative seed", {}, ["eval", "--model", "{dir}/m", "--seed", "-1"], "argument --seed: must be at least 0"),
    (
        "eval with an unknown env option",
        {},
        ["eval", "--checkpoint", "{run}", "--env-kwargs", "{bogus: 1}"],
        "cannot make its env 'gym_cards/NumberLine-v0' with {'bogus': 1}",
    ),
    (
        "eval with env kwargs that are a list",
        {},
        ["eval", "--checkpoint", "{run}", "--env-kwargs", "[1]"],
        "--env-kwargs must be a YAML mapping",
    ),
    (
        "eval of a corrupt checkpoint",
        {},
        ["eval", "--checkpoint", "{run_corrupt}"],
        "is corrupt: adapter/adapter_model.safetensors does not match",
    ),
    ("sft without data", {}, ["sft", "--output-dir", "{dir}/sft"], "needs --data"),
    ("sft of a missing dataset", {}, ["sft", "--data", "{dir}/none", "--output-dir", "{dir}/sft"], "does not exist"),
    (
        "sft-data over a used directory",
        {"used/notes.txt": "x"},
        ["sft-data", "--task", "gym_cards/NumberLine-v0", "--episodes", "1", "--out", "{dir}/used"],
        "already exists",
    ),
    (
        "sft-data whose seeds reach the held-out ones",
        {},
        ["sft-data", "--task", "gym_cards/NumberLine-v0", "--episodes", "10", "--seed", "999999995", "--out", "{dir}/d"],
        "demonstration seeds 999999995..1000000004 would reach the held-out evaluation seeds",
    ),
    (
        "sft-data of a task without an expert",
        {},
        [
            "sft-data",
            "--task",
            "CartPole-v1",
            "--action-words",
            "l",
            "r",
            "--task-description",
            "x",
            "--episodes",
            "1",
            "--out",
            "{dir}/d",
        ],
        "has no expert",
    ),
    (
        "sft-data with noise above 1",
        {},
        ["sft-data", "--task", "gym_cards/NumberLine-v0", "--episodes", "1", "--out", "{dir}/d", "--noise", "2"],
        "noise must be a probability",
    ),
    ("an unknown subcommand flag", {}, ["train", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (
        "a model that is a number, with a flat model key in --config",
        {"c.yaml": "model: 5\nlora_r: 8\n"},
        ["train", "--config", "{dir}/c.yaml", "--output-dir", "{dir}/run"],
        "model must be a mapping of config keys",
    ),
    (
        "a model that is a number in --config, with a model flag",
        {"c.yaml": "model: 5\n"},
        ["train", "--config", "{dir}/c.yaml", "--lora-r", "8", "--output-dir", "{dir}/run"],
        "model must be a mapping of config keys",
    ),
    (
        "train --games with env kwargs that are a list",
        {},
        ["train", "--games", "x", "--env-kwargs", "[1, 2]"],
        ENV_KWARGS_WORDS,
    ),
    ("train --games with env kwargs that are a word", {}, ["train", "--games", "x", "--env-kwargs", "foo"], ENV_KWARGS_WORDS),
    ("sft-data with env kwargs that are a list", {}, [*SFT_DATA, "--env-kwargs", "[1, 2]"], ENV_KWARGS_WORDS),
    ("sft-data with env kwargs that are a word", {}, [*SFT_DATA, "--env-kwargs", "foo"], ENV_KWARGS_WORDS),
    ("eval with env kwargs that are a word", {}, ["eval", "--checkpoint", "{run}", "--env-kwargs", "foo"], ENV_KWARGS_WORDS),
    ("eval of a state.json without a config", {}, ["eval", "--checkpoint", "{run_no_config}"], "lacks 'config'"),
    (
        "a seed beyond NumPy's range",
        {},
        ["train", "--seed", str(2**32), "--output-dir", "{dir}/run"],
        "seed must be at least 0 and below 2**32",
    ),
    ("eval at temperature 0", {}, ["eval", "--checkpoint", "{run}", "--temperature", "0"], "temperature must be"),
    ("eval at temperature nan", {}, ["eval", "--checkpoint", "{run}", "--temperature", "nan"], "temperature must be"),
    (
        "eval with a seed beyond NumPy's range",
        {},
        ["eval", "--checkpoint", "{run}", "--seed", str(2**32)],
        "--seed must be at least 0 and below 2**32",
    ),
    (
        "sft with a seed beyond NumPy's range",
        {},
        ["sft", "--data", "{dir}", "--seed", str(2**32), "--output-dir", "{dir}/sft"],
        "seed must be at least 0 and below 2**32",
    ),
    ("a NaN end_lr", {}, ["train", *TINY, "--end-lr", "nan", "--output-dir", "{dir}/run"], "end_lr must be a finite number"),
    (
        "a NaN dual_clip",
        {},
        ["train", *TINY, "--dual-clip", "nan", "--output-dir", "{dir}/run"],
        "dual_clip must be a finite number",
    ),
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, str]:
    """A finished run, copies of it with broken state files, and a tiny text model."""
    from vlm_ppo.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("runs")
    run = root / "run"
    assert main(["train", *TINY, "--total-env-steps", "2", "--output-dir", str(run)]) == 0
    paths = {"run": str(run), "text_model": str(build_tiny_model(root / "text", "text"))}
    checkpoint = Path("checkpoints") / "update_000001"

    def broken(name: str, change) -> None:
        copy = root / name
        shutil.copytree(run, copy)
        state = json.loads((copy / checkpoint / "state.json").read_text())
        rewrite_state(copy / checkpoint, change(state))
        paths[name] = str(copy)

    broken("run_list_state", lambda state: [1, 2])
    broken("run_no_update", lambda state: {k: v for k, v in state.items() if k != "update"})
    broken("run_bogus_key", lambda state: {**state, "config": {**state["config"], "bogus": 1}})
    broken("run_no_config", lambda state: {k: v for k, v in state.items() if k != "config"})
    corrupt = root / "run_corrupt"
    shutil.copytree(run, corrupt)
    weights = corrupt / checkpoint / "adapter" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-64] + bytes(64))
    paths["run_corrupt"] = str(corrupt)
    return paths


@pytest.mark.parametrize("name, files, argv, words", CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys, runs, monkeypatch, name, files, argv, words):
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    loaded = []
    import vlm_ppo.model_loading as model_loading

    original = model_loading.load_base_model
    monkeypatch.setattr(model_loading, "load_base_model", lambda *a, **k: loaded.append(a) or original(*a, **k))
    places = {"dir": str(tmp_path), **runs}
    for key, value in places.items():
        argv = [part.replace("{" + key + "}", value) for part in argv]
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert words in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not loaded, "the error came only after a model was loaded"
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == sorted(files)


@pytest.mark.parametrize(
    "argv, words", [(["play", "NumberLine", "--seed", "-1"], "--seed must be at least 0"), (["play", "Chess"], "Chess")]
)
def test_gym_cards_play_refuses_bad_input_in_one_line(capsys, argv, words):
    with pytest.raises(SystemExit) as exit:
        gym_cards_main(argv)
    err = capsys.readouterr().err
    assert exit.value.code == 2 and words in err and len(err.strip().splitlines()) == 1, err
