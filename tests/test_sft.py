"""vlm_ppo.sft: supervised fine-tuning on demonstrations, the checkpoint PPO starts from."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from conftest import rewrite_state  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

import gym_cards  # noqa: E402,F401  (registers the envs)
from gym_cards.action_parsing import parse_action  # noqa: E402
from vlm_ppo import run as run_plumbing  # noqa: E402
from vlm_ppo import sft  # noqa: E402
from vlm_ppo.checkpoint import CheckpointError  # noqa: E402
from vlm_ppo.config import (  # noqa: E402
    ConfigError,  # noqa: E402
    TrainConfig,
    config_from_dict,
)
from vlm_ppo.model_io import answer_end_token  # noqa: E402
from vlm_ppo.model_loading import build_policy, load_base_model, lora_targets, module_part  # noqa: E402
from vlm_ppo.sft import SFTConfig, encode_examples, run_sft, split_by_episode  # noqa: E402
from vlm_ppo.sft_data import DatasetInfo, SFTRecord, load_sft_records  # noqa: E402
from vlm_ppo.tasks import answer_json, make_task  # noqa: E402
from vlm_ppo.tiny import build_tiny_model  # noqa: E402

CPU = torch.device("cpu")
NUMBER_LINE = "gym_cards/NumberLine-v0"
ACTION_WORDS = ("-", "+")
# Three states, each shown as a picture of its own flat colour; the prompt text is the same for all.
STATES = ((1, 3), (4, 2), (0, 5))
COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255))


def number_line_prompt(description: str | None = None) -> str:
    """NumberLine's prompt (with the table described in words, when given)."""
    task = make_task(NUMBER_LINE)
    env = task.make_env()
    env.reset(seed=0)
    prompt = task.prompt(env, True)
    return prompt if description is None else prompt.replace("\nAnswer", f"\nTable: {description}\nAnswer")


def train_config(**values) -> TrainConfig:
    return config_from_dict(TrainConfig, values, "the test's config")


def number_line_answer(current: int, target: int) -> str:
    word = "+" if current < target else "-"
    side = "below" if current < target else "above"
    thoughts = f"current {current} is {side} target {target}, so {word}"
    return answer_json({"current number": current, "target number": target, "thoughts": thoughts, "action": word})


def write_dataset(directory: Path, examples: list[tuple[np.ndarray | None, str, str, int]]) -> Path:
    """A dataset in vlm_ppo.sft_data's layout from (image or None, prompt, answer, episode) tuples."""
    text_only = examples[0][0] is None
    (directory / "images").mkdir(parents=True)
    records = []
    for number, (image, prompt, answer, episode) in enumerate(examples):
        record_id = f"{number:06d}"
        path = None if text_only else f"images/{record_id}.png"
        if path is not None:
            Image.fromarray(image).save(directory / path)
        steps = sum(r.episode == episode for r in records)
        records.append(SFTRecord(record_id, path, prompt, answer, True, episode, steps))
    (directory / "records.jsonl").write_text("".join(json.dumps(asdict(r)) + "\n" for r in records))
    episodes = len({r.episode for r in records})
    info = DatasetInfo(
        NUMBER_LINE, episodes, 0, 0.0, True, text_only, {}, None, None, len(records), 0, 1.0, 1.0, [1.0] * episodes
    )
    (directory / "dataset.json").write_text(json.dumps(asdict(info)))
    return directory


def picture(colour: tuple[int, int, int]) -> np.ndarray:
    return np.full((56, 56, 3), colour, dtype=np.uint8)


def text_examples(count: int) -> list[tuple[None, str, str, int]]:
    """Text-only NumberLine steps with the table in the prompt, two per episode."""
    out = []
    for i in range(count):
        current, target = i % 5, (i + 2) % 5
        description = f"The current number is {current} and the target number is {target}."
        out.append((None, number_line_prompt(description), number_line_answer(current, target), i // 2))
    return out


def read_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "sft_metrics.csv", newline="") as file:
        return list(csv.DictReader(file))


def quick(data: Path, out: Path, **overrides) -> SFTConfig:
    """A config for seconds-long CPU runs."""
    values = {
        "data": str(data),
        "output_dir": str(out),
        "epochs": 2,
        "batch_size": 2,
        "lora_r": 4,
        "lora_alpha": 8,
        "device": "cpu",
    }
    return config_from_dict(SFTConfig, {**values, **overrides}, "the test's config")


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("llava"), "llava")


@pytest.fixture(scope="module")
def tiny_text(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("text"), "text")


# ------------------------------------------------------------------------------ labels
@pytest.mark.parametrize("architecture", ["llava", "text"])
def test_labels_are_exactly_the_answer_and_eos_after_the_policys_own_prompt(architecture, tiny_llava, tiny_text):
    """Only answer tokens and the end token carry labels, and the prompt in front of them is
    token for token what VLMPolicy.encode feeds the policy (left padding, image tokens)."""
    text_only = architecture == "text"
    model_dir = tiny_text if text_only else tiny_llava
    policy = build_policy(train_config(path=str(model_dir), text_only=text_only, device="cpu"), CPU, trainable=False)
    prompts = ["Short prompt.", number_line_prompt()]  # different lengths: left padding
    answers = [number_line_answer(1, 3), '{"action": "-"}']  # different lengths: right padding
    images = None if text_only else np.stack([picture(COLOURS[0]), picture(COLOURS[1])])
    eos = answer_end_token(policy.model, policy.tokenizer)
    assert policy.tokenizer.convert_ids_to_tokens(eos) == policy.tokenizer.eos_token

    inputs, labels = encode_examples(policy.processor, images, prompts, answers, eos)

    expected_prompt = policy.encode(images, prompts)
    width = expected_prompt["input_ids"].shape[1]
    assert torch.equal(inputs["input_ids"][:, :width], expected_prompt["input_ids"])
    assert torch.equal(inputs["attention_mask"][:, :width], expected_prompt["attention_mask"])
    if not text_only:
        assert torch.equal(inputs["pixel_values"], expected_prompt["pixel_values"])
        image_token = policy.model.config.image_token_index
        assert (inputs["input_ids"][:, :width] == image_token).sum() == 2 * 16  # 4x4 patches per image
    assert (labels[:, :width] == sft.IGNORE_INDEX).all()
    for row, answer in enumerate(answers):
        labelled = labels[row] != sft.IGNORE_INDEX
        assert torch.equal(labels[row][labelled], inputs["input_ids"][row][labelled])
        assert policy.tokenizer.decode(inputs["input_ids"][row][labelled]) == answer + policy.tokenizer.eos_token
        # Labelled = attended answer positions; what follows is padding with neither.
        assert torch.equal(labelled[width:], inputs["attention_mask"][row, width:].bool())
        assert labelled[width:].long().diff().le(0).all()  # one block, then padding

    # Padding changes nothing: each record's loss in the batch is its loss alone (positions are
    # counted over attended tokens, as in the policy's forward pass).
    total, count = sft.answer_loss(policy.model, inputs, labels)
    alone = [
        sft.answer_loss(
            policy.model,
            *encode_examples(
                policy.processor, None if images is None else images[i : i + 1], prompts[i : i + 1], answers[i : i + 1], eos
            ),
        )
        for i in range(2)
    ]
    assert count == sum(n for _, n in alone) == int((labels != sft.IGNORE_INDEX).sum())
    assert torch.allclose(total, sum(t for t, _ in alone), rtol=1e-5)


@pytest.mark.parametrize("architecture", ["llava", "idefics3", "qwen2_vl", "qwen2_5_vl", "gemma3", "text"])
def test_the_sft_loss_is_minus_the_policys_log_prob_of_the_same_answer(architecture, tmp_path):
    """Every family's per-token inputs (Qwen-VL's mm_token_type_ids, Gemma-3's token_type_ids) grow
    with the answer as in the policy, so SFT trains exactly the log-prob RL later scores."""
    from vlm_ppo.buffer import VLMRolloutSamples

    text_only = architecture == "text"
    model_dir = build_tiny_model(tmp_path / architecture, architecture)
    policy = build_policy(
        train_config(path=str(model_dir), text_only=text_only, device="cpu", temperature=1.0), CPU, trainable=False
    )
    prompts = ["Short prompt.", number_line_prompt()]
    answers = [number_line_answer(1, 3), '{"action": "-"}']
    images = None if text_only else np.stack([picture(COLOURS[0]), picture(COLOURS[1])])
    eos = answer_end_token(policy.model, policy.tokenizer)
    inputs, labels = encode_examples(policy.processor, images, prompts, answers, eos)
    with torch.no_grad():
        total, count = sft.answer_loss(policy.model, inputs, labels)
    width = policy.encode(images, prompts)["input_ids"].shape[1]
    tokens = torch.where(labels[:, width:] == sft.IGNORE_INDEX, 0, labels[:, width:])
    mask = labels[:, width:] != sft.IGNORE_INDEX
    samples = VLMRolloutSamples(
        images=None if images is None else torch.as_tensor(images),
        prompts=prompts,
        tokens=tokens,
        token_mask=mask,
        action_mask=mask,
        old_values=None,
        old_log_prob=None,
        advantages=None,
        returns=None,
    )
    policy.suppressed_ids = ()  # SFT's cross-entropy spans the whole vocabulary, placeholders included
    with torch.no_grad():
        per_token, _ = policy(samples)
    assert count == int(mask.sum())
    assert torch.allclose(total, -per_token[mask].sum(), rtol=1e-5, atol=1e-4)


def test_the_end_token_is_one_the_policy_stops_on():
    """A chat model whose generation stops on an end-of-turn token and not on the tokenizer's EOS
    must learn to write the end-of-turn token, or its answers would never end."""

    def model(stops):
        return SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=stops))

    assert answer_end_token(model([7, 2]), SimpleNamespace(eos_token_id=2)) == 2
    assert answer_end_token(model([7, 9]), SimpleNamespace(eos_token_id=5)) == 7
    assert answer_end_token(model(None), SimpleNamespace(eos_token_id=5)) == 5
    with pytest.raises(ValueError, match="nothing would end"):
        answer_end_token(model(None), SimpleNamespace(eos_token_id=None))


@pytest.mark.parametrize("architecture", ["text", "llava"])
def test_demonstrations_end_with_the_token_the_chat_template_ends_a_turn_with(architecture, tmp_path):
    """Gemma-3-it ends a turn with <end_of_turn> and stops on it, though its tokenizer's EOS is
    <eos>: a demonstration must end the way the model's own turns do (here <unk> plays that part)."""
    model_dir = build_tiny_model(tmp_path / architecture, architecture)
    template = (model_dir / "chat_template.jinja").read_text()
    assert template.count("eos_token + '\\n'") == 1
    (model_dir / "chat_template.jinja").write_text(template.replace("eos_token + '\\n'", "'<unk>' + '\\n'"))
    model, processor = load_base_model(model_dir, CPU, torch.float32)
    tokenizer = getattr(processor, "tokenizer", processor)
    unk = tokenizer.convert_tokens_to_ids("<unk>")
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, unk]
    assert answer_end_token(model, processor) == unk
    model.generation_config.eos_token_id = tokenizer.eos_token_id  # it does not stop there: EOS, as before
    assert answer_end_token(model, processor) == tokenizer.eos_token_id


def test_held_out_records_are_whole_episodes():
    records = [
        SFTRecord(f"{i:06d}", None, "p", "a", True, episode, step)
        for i, (episode, step) in enumerate((e, s) for e in range(10) for s in range(3))
    ]
    train, held = split_by_episode(records, 0.2, seed=3)
    assert len({r.episode for r in held}) == 2 and len(held) == 6
    assert not {r.episode for r in train} & {r.episode for r in held}
    assert split_by_episode(records, 0.2, seed=3) == (train, held)
    assert split_by_episode(records, 0.0, seed=3) == (records, [])
    with pytest.raises(ValueError, match="leaving none"):
        split_by_episode(records[:3], 0.5, seed=0)


# ------------------------------------------------------------------------- memorising
EPOCHS = 160


@pytest.fixture(scope="module")
def memorised(tmp_path_factory, tiny_llava) -> tuple[Path, Path]:
    """Full-weight SFT of the tiny LLaVA on three pictures, each with its own answer (every
    record twice): (data directory, run directory). EPOCHS steps of one batch each: at 80 the
    model learned the template but not always the pictures, depending on its random start (which
    moves with the tiny tokenizer's corpus); 160 reached a loss of 0.002 or less on both starts tried."""
    root = tmp_path_factory.mktemp("memorise")
    prompt = number_line_prompt()
    examples = [
        (picture(colour), prompt, number_line_answer(*state), episode)
        for episode, (state, colour) in enumerate(zip(STATES, COLOURS))
    ]
    data = write_dataset(root / "data", examples * 2)
    config = config_from_dict(
        SFTConfig,
        dict(
            data=str(data),
            path=str(tiny_llava),
            output_dir=str(root / "run"),
            epochs=EPOCHS,
            batch_size=6,
            lr=1e-2,
            lora=False,
            save_every_epochs=1000,
            device="cpu",
        ),
        "the test's config",
    )
    assert run_sft(config) == root / "run" / "model"
    return data, root / "run"


def test_sft_memorises_answers_that_depend_on_the_image(memorised, tiny_llava):
    """The three answers share their JSON template and differ only in the numbers, which only the
    picture tells. A model that learned the template but not the pictures would still have to
    guess the first number (1 of 3, ln 3 nats) and so average at least ln(3) / answer length per
    token; below that it reads the image. A random model starts near a uniform guess over the
    vocabulary (ln 2048 = 7.6)."""
    _, run = memorised
    rows = read_rows(run)
    assert [int(r["step"]) for r in rows] == list(range(1, EPOCHS + 1)) and [int(r["epoch"]) for r in rows] == list(
        range(1, EPOCHS + 1)
    )
    losses = [float(r["loss"]) for r in rows]
    _, tokenizer = load_base_model(tiny_llava, CPU, torch.float32)
    answer_tokens = len(tokenizer.tokenizer(number_line_answer(*STATES[0]))["input_ids"]) + 1  # + EOS
    assert losses[0] > 0.5 * math.log(len(tokenizer.tokenizer))
    assert losses[-1] < math.log(3) / answer_tokens
    lrs = [float(r["lr"]) for r in rows]
    assert lrs[0] == 1e-2 and all(a > b for a, b in zip(lrs, lrs[1:])) and lrs[-1] < 1e-4  # cosine to 0
    assert Path(run / "sft_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    info = json.loads((run / "model" / "SFT_INFO.json").read_text())
    assert info["final_loss"] == losses[-1] and info["steps"] == EPOCHS and info["base_model"] == str(tiny_llava)


def test_the_saved_model_is_a_plain_model_the_policy_loads_and_acts_with(memorised, tiny_llava):
    """OUTPUT/model loads through the same path as PPO (AutoModel + AutoProcessor, left padding,
    the chat template kept) and, acting greedily, writes the memorised answers."""
    from transformers import AutoProcessor

    data, run = memorised
    model_dir = run / "model"
    assert not (model_dir / "adapter_config.json").exists()
    saved, base = AutoProcessor.from_pretrained(model_dir), AutoProcessor.from_pretrained(tiny_llava)
    assert saved.tokenizer.padding_side == "left"
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}]
    assert saved.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) == base.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False
    )
    config = train_config(path=str(model_dir), temperature=1e-4, max_new_tokens=48, device="cpu")
    policy = build_policy(config, CPU, trainable=False)
    records = load_sft_records(data)[:3]
    images = np.stack([np.asarray(Image.open(data / r.image).convert("RGB")) for r in records])
    rollout = policy.act(images, [r.prompt for r in records])
    assert rollout.answers == [r.answer for r in records]
    expected = [ACTION_WORDS.index("+" if c < t else "-") for c, t in STATES]
    assert [parse_action(a, ACTION_WORDS).action for a in rollout.answers] == expected
    # PPO starts from it too: fresh LoRA on the fine-tuned weights.
    assert build_policy(config, CPU, trainable=True).act(images, [r.prompt for r in records]).answers == rollout.answers


def test_qwen_vl_sft_on_images_trains_saves_and_names_the_real_processor(memorised, tmp_path):
    """Qwen2.5-VL SFT on images end to end (its first batch used to crash), LoRA merged, and the
    saved processor named as a real Qwen-VL directory names it (the image-only stand-in used here
    without torchvision would otherwise save under its own name, which AutoProcessor cannot load)."""
    data, _ = memorised
    base = build_tiny_model(tmp_path / "qwen", "qwen2_5_vl")
    model_dir = run_sft(quick(data, tmp_path / "run", path=str(base), epochs=1, batch_size=3))
    losses = [float(row["loss"]) for row in read_rows(tmp_path / "run")]
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses)
    processor_config = json.loads((model_dir / "processor_config.json").read_text())
    assert processor_config["processor_class"] == "Qwen2_5_VLProcessor" and "video_processor" in processor_config
    assert json.loads((model_dir / "tokenizer_config.json").read_text())["processor_class"] == "Qwen2_5_VLProcessor"
    policy = build_policy(train_config(path=str(model_dir), device="cpu"), CPU, trainable=False)
    records = load_sft_records(data)[:2]
    images = np.stack([np.asarray(Image.open(data / r.image).convert("RGB")) for r in records])
    assert len(policy.act(images, [r.prompt for r in records]).answers) == 2


# ------------------------------------------------------------------------------ resume
@pytest.fixture(scope="module")
def text_data(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("text_data") / "data", text_examples(10))


def test_resume_after_a_crash_gives_the_same_losses_and_model(tmp_path, text_data, monkeypatch):
    """LoRA (with dropout, so RNG states matter) on a text model built in the run directory,
    with held-out episodes. A run that crashes after step 5, one step into epoch 2 (last
    checkpoint: epoch 1, step 4), resumed, equals an uninterrupted run row for row (losses,
    learning rates, held-out losses) and weight for weight; the crashed run's row for step 5 is
    replaced."""
    straight = run_sft(quick(text_data, tmp_path / "straight", eval_fraction=0.2))
    expected = read_rows(straight.parent)
    assert [r["step"] for r in expected] == [str(s) for s in range(1, 9)]  # 8 training records, batches of 2
    assert [r["eval_loss"] != "nan" for r in expected] == [False, False, False, True] * 2
    assert json.loads((straight.parent / "tiny_model" / "tiny_model.json").read_text())["architecture"] == "text"

    class Crash(Exception):
        pass

    original = run_plumbing.MetricsLog.write

    def crash_after_step_5(self, row):
        original(self, row)
        if row["step"] == 5:
            raise Crash

    monkeypatch.setattr(run_plumbing.MetricsLog, "write", crash_after_step_5)
    config = quick(text_data, tmp_path / "crashed", eval_fraction=0.2)
    with pytest.raises(Crash):
        run_sft(config)
    monkeypatch.setattr(run_plumbing.MetricsLog, "write", original)
    assert [r["step"] for r in read_rows(tmp_path / "crashed")][-1] == "5"
    assert sorted(p.name for p in (tmp_path / "crashed" / "checkpoints").iterdir()) == ["epoch_001"]

    # The checkpoint's own settings and run directory, whatever the config passed along says.
    resumed = run_sft(quick(text_data, tmp_path / "elsewhere", epochs=5), resume=tmp_path / "crashed")
    assert resumed == tmp_path / "crashed" / "model" and not (tmp_path / "elsewhere").exists()

    assert read_rows(resumed.parent) == expected
    straight_weights, resumed_weights = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert straight_weights.keys() == resumed_weights.keys()
    assert all(torch.equal(straight_weights[k], resumed_weights[k]) for k in straight_weights)
    info = json.loads((resumed / "SFT_INFO.json").read_text())
    assert info["final_loss"] == float(expected[-1]["loss"]) and info["final_eval_loss"] == float(expected[-1]["eval_loss"])
    assert (info["train_records"], info["eval_records"]) == (8, 2)


def test_a_learning_rate_given_on_resume_is_the_one_trained_with(tmp_path, text_data, tiny_text):
    constant = {"path": str(tiny_text), "lr": 1e-4, "end_lr": 1e-4}
    run = run_sft(quick(text_data, tmp_path / "run", epochs=1, **constant)).parent
    given = {"epochs": 2, "lr": 3e-3, "end_lr": 3e-3}
    run_sft(quick(text_data, run, **{**constant, **given}), resume=run, given=given)
    assert [float(row["lr"]) for row in read_rows(run)] == pytest.approx([1e-4] * 5 + [3e-3] * 5, rel=1e-6)


def test_broken_checkpoints_and_reused_run_directories_are_refused(tmp_path, text_data, tiny_text):
    run = run_sft(quick(text_data, tmp_path / "run", path=str(tiny_text), epochs=1)).parent
    with pytest.raises(FileExistsError, match="resume"):
        run_sft(quick(text_data, run, path=str(tiny_text), epochs=1))
    with pytest.raises(CheckpointError, match="does not exist"):
        run_sft(quick(text_data, tmp_path / "other"), resume=tmp_path / "nowhere")

    def broken(name: str, damage) -> Path:
        copy = tmp_path / f"broken_{name}"
        shutil.copytree(run, copy)
        damage(copy / "checkpoints" / "epoch_001" / name)
        return copy

    cases = {
        "optimizer.pt": (
            lambda p: p.write_bytes(b"not a torch file"),
            "corrupt: optimizer.pt does not match its recorded sha256",
        ),
        "adapter/adapter_model.safetensors": (
            lambda p: p.write_bytes(p.read_bytes()[:100]),
            "corrupt: adapter/adapter_model.safetensors",
        ),
        "state.json": (lambda p: p.write_text("{"), "corrupt: state.json is not JSON"),
        "scheduler.pt": (lambda p: p.unlink(), "incomplete: scheduler.pt is missing"),
        "rng.pkl": (lambda p: p.write_bytes(b"an older version's pickle"), "pickled its state"),
    }
    for name, (damage, message) in cases.items():
        copy = broken(name, damage)
        with pytest.raises(CheckpointError, match=message):
            run_sft(quick(text_data, copy, epochs=2), resume=copy)
    assert issubclass(CheckpointError, RuntimeError)


def test_an_sft_run_moves_drops_abandoned_epochs_and_stays_in_its_directory(tmp_path, text_data, tiny_text):
    """Copied to another machine, a run finds its base model and data at new paths (the same model
    by fingerprint, the same data by its own); resuming an earlier epoch removes the later ones; a
    checkpoint outside its run is refused."""
    from vlm_ppo.tiny import build_tiny_model

    straight = run_sft(quick(text_data, tmp_path / "straight", path=str(tiny_text), epochs=3)).parent
    run, model, data = tmp_path / "run", tmp_path / "model", tmp_path / "data"
    shutil.copytree(straight, run)
    shutil.copytree(tiny_text, model)
    shutil.copytree(text_data, data)
    checkpoint = run / "checkpoints" / "epoch_001"
    state = json.loads((checkpoint / "state.json").read_text())
    state["config"]["model"]["path"], state["config"]["data"] = str(tmp_path / "gone"), str(tmp_path / "gone_data")
    rewrite_state(checkpoint, state)
    other = build_tiny_model(tmp_path / "other", "text", seed=1)
    with pytest.raises(ValueError, match="is not the base model"):
        run_sft(None, resume=checkpoint, given={"model": {"path": str(other)}, "data": str(data)})
    resumed = run_sft(None, resume=checkpoint, given={"model": {"path": str(model)}, "data": str(data)})
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch_001", "epoch_002", "epoch_003"]
    assert read_rows(run) == read_rows(straight)  # epochs 2 and 3 again, exactly
    assert load_file(resumed / "model.safetensors").keys() == load_file(straight / "model" / "model.safetensors").keys()

    shutil.rmtree(run / "checkpoints" / "epoch_003")
    (run / "checkpoints" / "epoch_009").mkdir()  # an abandoned later epoch (as from a longer run)
    shutil.copytree(run / "checkpoints" / "epoch_002", run / "checkpoints" / "epoch_009", dirs_exist_ok=True)
    run_sft(None, resume=run / "checkpoints" / "epoch_002", given={"model": {"path": str(model)}, "data": str(data)})
    # epoch_009 went with the abandoned run; epoch 3 was trained again
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch_001", "epoch_002", "epoch_003"]
    assert read_rows(run) == read_rows(straight)
    with pytest.raises(CheckpointError, match="not in a run's checkpoints/ directory"):
        alone = tmp_path / "epoch_001"
        shutil.copytree(checkpoint, alone)
        run_sft(None, resume=alone)


def test_an_sft_resume_elsewhere_or_without_its_metrics_is_refused_and_changes_nothing(tmp_path, text_data, tiny_text):
    """A resume continues in its own directory: another --output-dir was ignored (the run went on
    where it was). A finished run whose metrics file was emptied ended in an IndexError."""
    run = run_sft(quick(text_data, tmp_path / "run", path=str(tiny_text), epochs=1)).parent
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(ConfigError, match="continues in its own directory"):
        run_sft(None, resume=run, given={"epochs": 2, "output_dir": str(tmp_path / "branch")})
    assert not (tmp_path / "branch").exists()
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    (run / "sft_metrics.csv").write_text("step,epoch,loss,lr\n")
    with pytest.raises(CheckpointError, match="sft_metrics.csv holds no steps"):
        run_sft(None, resume=run)


def test_a_text_model_is_refused_for_a_dataset_with_images(tmp_path, memorised, tiny_text):
    data, _ = memorised
    with pytest.raises(ValueError, match="text-only language model"):
        run_sft(quick(data, tmp_path / "run", path=str(tiny_text)))


# ---------------------------------------------------------------------- LoRA and full
@pytest.mark.parametrize("lora", [True, False])
def test_lora_changes_only_its_layers_and_full_weights_change_the_whole_language_model(tmp_path, memorised, tiny_llava, lora):
    """LoRA merged: exactly the LoRA-targeted linear layers differ from the base. Full weights:
    exactly the language model's tensors (embeddings, every layer, LM head) differ; the vision
    tower and projector (train_vision="none") stay as they were."""
    data, _ = memorised
    model_dir = run_sft(quick(data, tmp_path / "run", path=str(tiny_llava), epochs=1, batch_size=3, lr=1e-3, lora=lora))
    base_model, _ = load_base_model(tiny_llava, CPU, torch.float32)
    base, tuned = base_model.state_dict(), load_base_model(model_dir, CPU, torch.float32)[0].state_dict()
    assert base.keys() == tuned.keys()
    changed = {name for name in base if not torch.equal(base[name], tuned[name])}
    if lora:
        targets, _ = lora_targets(base_model, "none")
        assert changed == {f"{target}.weight" for target in targets}
    else:
        assert changed == {name for name in base if module_part(name) in ("language", "output")}
    assert len(read_rows(tmp_path / "run")) == 2


# ------------------------------------------------------------------- the vision tower's rate
def test_vision_lr_moves_the_vision_tower_and_projector_at_their_own_rate(tmp_path, memorised, tiny_llava):
    """Adam's first step moves every weight with a nonzero gradient by its group's rate (m/√v is
    ±1 then, up to eps), so after one step the largest change is ``lr`` in the language model and
    ``vision_lr`` in the vision tower and projector."""
    data, _ = memorised
    config = quick(
        data, tmp_path / "run", path=str(tiny_llava), epochs=1, batch_size=6, lr=1e-3, vision_lr=1e-5, lora=False,
        train_vision="all",
    )  # fmt: skip
    model_dir = run_sft(config)
    base = load_base_model(tiny_llava, CPU, torch.float32)[0].state_dict()
    tuned = load_base_model(model_dir, CPU, torch.float32)[0].state_dict()
    largest = {"language": 0.0, "output": 0.0, "vision": 0.0, "projector": 0.0}
    for name in base:
        part = module_part(name)
        largest[part] = max(largest[part], float((tuned[name] - base[name]).abs().max()))
    assert largest["language"] == pytest.approx(1e-3, rel=1e-3)
    # float32 rounds a weight near 0.2 to 1.5e-8, which is 0.15% of a 1e-5 step
    assert largest["vision"] == pytest.approx(1e-5, rel=1e-2)
    assert largest["projector"] == pytest.approx(1e-5, rel=1e-2)
    assert [float(row["lr"]) for row in read_rows(tmp_path / "run")] == [1e-3]


def test_vision_lr_without_a_trainable_vision_part_is_refused(tmp_path, memorised, text_data, tiny_text):
    with pytest.raises(Exception, match="no vision tower or projector weight is trainable"):
        run_sft(quick(text_data, tmp_path / "text", path=str(tiny_text), vision_lr=1e-5, train_vision="all"))
    data, _ = memorised
    with pytest.raises(Exception, match="vision_lr needs train_vision projector or all"):
        quick(data, tmp_path / "run", vision_lr=1e-5)
    with pytest.raises(Exception, match="vision_lr must be above 0"):
        quick(data, tmp_path / "run", vision_lr=0.0, train_vision="all")


def test_a_resume_keeps_each_groups_ratio_to_the_learning_rate():
    """``retarget_schedule`` (a resume with another lr) sets each group to its ``lr_scale`` times
    the new rate, at the schedule's current point."""
    weights = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))]
    groups = [{"params": [weights[0]], "lr": 1e-3, "lr_scale": 1.0}, {"params": [weights[1]], "lr": 1e-4, "lr_scale": 0.1}]
    optimizer = torch.optim.AdamW(groups, lr=1e-3)
    scheduler = run_plumbing.cosine_schedule(optimizer, 1e-3, 0.0, 4)
    for _ in range(2):  # half way down the cosine: factor 0.5
        optimizer.step()
        scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.5e-3, 0.5e-4])
    run_plumbing.retarget_schedule(optimizer, scheduler, 2e-3)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([1e-3, 1e-4])
    scheduler.step()  # factor ½(1 + cos(3π/4))
    factor = 0.5 * (1 + math.cos(3 * math.pi / 4))
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([2e-3 * factor, 2e-4 * factor])
