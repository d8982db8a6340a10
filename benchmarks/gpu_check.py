"""The GPU check: tiny LLaVA, Idefics3 and Qwen2.5-VL in bfloat16, what a real run exercises.

    python benchmarks/gpu_check.py                     # on a CUDA GPU (bfloat16), about 2 minutes
    OMP_WAIT_POLICY=PASSIVE python benchmarks/gpu_check.py --device cpu --quick   # CI's version

For each architecture, a policy (LoRA, ``--dtype``) acts on NumberLine frames and is updated on its
own answers. The table gives rollout tokens/s (answers forced to full length), update samples/s
(forward + backward), peak accelerator memory, and log-prob parity: how far the rollout's old
log-probs are from the update's fresh ones (0 by construction when they are re-scored, the default
outside float32), and how far ``generate``'s own would have been (the mismatch re-scoring removes).
Then 4-bit loading (when bitsandbytes is installed, on CUDA) and transformers' own Qwen-VL
processor against ours (where torchvision imports): the same tokens, pixels within one intensity
level.

The lent GPU machine has torch, transformers, peft, accelerate and torchvision but neither
gymnasium nor stable-baselines3; carry their wheels (``pip download --no-deps gymnasium
farama-notifications stable-baselines3``, together under 2 MB) and put them on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from unittest.mock import patch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from vlm_ppo.buffer import VLMRolloutSamples  # noqa: E402
from vlm_ppo.config import ModelConfig, TrainConfig  # noqa: E402
from vlm_ppo.model_loading import build_policy  # noqa: E402
from vlm_ppo.policy import NEUTRAL_SAMPLING  # noqa: E402
from vlm_ppo.ppo import sequence_log_prob  # noqa: E402
from vlm_ppo.tasks import make_task  # noqa: E402
from vlm_ppo.tiny import build_tiny_model  # noqa: E402

ARCHITECTURES = ("llava", "idefics3", "qwen2_5_vl")


def observations(count: int) -> tuple[np.ndarray, list[str]]:
    task = make_task("gym_cards/NumberLine-v0")
    envs = [task.make_agent_env() for _ in range(count)]
    firsts = [env.reset(seed=i)[0] for i, env in enumerate(envs)]
    return np.stack([o["image"] for o in firsts]), [o["prompt"] for o in firsts]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def check(
    architecture: str, root: Path, device: torch.device, dtype: str, batch: int, tokens: int, hidden: int, layers: int
) -> dict:
    path = build_tiny_model(root / architecture, architecture, image_size=56, hidden_size=hidden, num_layers=layers)
    config = TrainConfig(
        model=ModelConfig(path=str(path), dtype=dtype, lora_r=16, lora_alpha=32, device=device.type),
        max_new_tokens=tokens,
        temperature=1.0,
        value_hidden_sizes=(64,),
    )
    policy = build_policy(config, device)
    images, prompts = observations(batch)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    policy.act(images, prompts)  # warm-up
    synchronize(device)
    started = time.perf_counter()
    rollout = policy.act(images, prompts)
    synchronize(device)
    act_seconds = time.perf_counter() - started
    samples = VLMRolloutSamples(
        torch.as_tensor(images), prompts, torch.as_tensor(rollout.tokens), torch.as_tensor(rollout.token_mask),
        torch.as_tensor(rollout.action_mask), None, None, None, None,
    )  # fmt: skip
    per_token, _ = policy(samples)
    (sequence_log_prob(per_token, samples.token_mask.to(device), samples.action_mask.to(device), 0.5).sum()).backward()
    synchronize(device)
    started = time.perf_counter()
    per_token, values = policy(samples)
    (
        sequence_log_prob(per_token, samples.token_mask.to(device), samples.action_mask.to(device), 0.5).sum() + values.sum()
    ).backward()
    synchronize(device)
    update_seconds = time.perf_counter() - started
    mask = rollout.token_mask
    parity = float(np.abs(per_token.detach().cpu().numpy()[mask] - rollout.token_log_probs[mask]).max())
    rescored = policy.rescore
    policy.rescore = False  # what generate's own log-probs would have been
    raw = policy.act(images, prompts)
    samples = samples._replace(tokens=torch.as_tensor(raw.tokens), token_mask=torch.as_tensor(raw.token_mask))
    with torch.no_grad():
        fresh, _ = policy(samples)
    raw_gap = float(np.abs(fresh.cpu().numpy()[raw.token_mask] - raw.token_log_probs[raw.token_mask]).max())
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else float("nan")
    return {
        "architecture": architecture,
        "parameters": sum(p.numel() for p in policy.model.parameters()),
        "rollout_tokens_per_s": batch * tokens / act_seconds,
        "update_samples_per_s": batch / update_seconds,
        "peak_mib": peak,
        "logprob_gap_rescored": parity,
        "logprob_gap_generate": raw_gap,
        "rescored": rescored,
    }


def four_bit(root: Path, device: torch.device) -> str:
    import importlib.util

    if device.type != "cuda":
        return "skipped (needs CUDA)"
    if importlib.util.find_spec("bitsandbytes") is None:
        return "skipped (bitsandbytes not installed)"
    path = build_tiny_model(root / "q4", "llava", hidden_size=128)
    config = TrainConfig(
        model=ModelConfig(path=str(path), q4=True, lora_r=8, lora_alpha=16), max_new_tokens=8, value_hidden_sizes=(16,)
    )
    policy = build_policy(config, device)
    images, prompts = observations(2)
    answers = policy.act(images, prompts).answers
    return f"ok ({len(answers)} answers, {type(policy.model.base_model.model).__name__})"


def qwen_processor(root: Path) -> str:
    from transformers.utils import is_torchvision_available

    if not is_torchvision_available():
        return "skipped (torchvision not installed: only our image-only processor is used)"
    from PIL import Image
    from transformers import AutoProcessor, AutoTokenizer, Qwen2VLImageProcessorPil

    from vlm_ppo.processors import qwen_vl_processor

    path = build_tiny_model(root / "qwen_processor", "qwen2_5_vl")
    real = AutoProcessor.from_pretrained(path)
    ours = qwen_vl_processor(
        Qwen2VLImageProcessorPil.from_pretrained(path),
        AutoTokenizer.from_pretrained(path),
        (path / "chat_template.jinja").read_text(),
    )
    images, prompts = observations(2)
    pictures = [[Image.fromarray(image)] for image in images]
    texts = [
        real.apply_chat_template(
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": p}]}],
            add_generation_prompt=True,
            tokenize=False,
        )
        for p in prompts
    ]
    for processor in (real, ours):
        processor.tokenizer.padding_side = "left"
    theirs = real(images=pictures, text=texts, return_tensors="pt", padding=True, add_special_tokens=False)
    mine = ours(images=pictures, text=texts, return_tensors="pt", padding=True, add_special_tokens=False)
    same = all(
        torch.equal(theirs[key], mine[key]) for key in ("input_ids", "attention_mask", "mm_token_type_ids", "image_grid_thw")
    )
    gap = float((theirs["pixel_values"] - mine["pixel_values"]).abs().max())
    tokens = "identical" if same else "DIFFERENT"
    return f"{type(real).__name__}: tokens {tokens}, pixels within {gap:.4f} (one intensity level: {2 / 255:.4f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32"))
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--out", help="also write the results as JSON here")
    args = parser.parse_args()
    device = torch.device(args.device)
    batch, tokens, hidden, layers = (2, 8, 64, 2) if args.quick else (16, 64, 512, 8)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        # Answers of one length, for timing (the policy switches the model's own generation settings
        # off, so the length is set among its sampling settings; EOS is then suppressed unscored).
        with patch.dict(NEUTRAL_SAMPLING, min_new_tokens=tokens):
            rows = [check(a, root, device, args.dtype, batch, tokens, hidden, layers) for a in ARCHITECTURES]
        extras = {"4-bit loading": four_bit(root, device), "Qwen-VL processor": qwen_processor(root)}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"device: {name}; dtype {args.dtype}; batch {batch}, {tokens} new tokens; "
        f"tiny models of hidden {hidden}, {layers} layers"
    )
    print(
        f"{'architecture':<14}{'params':>11}{'rollout tok/s':>15}{'update smp/s':>14}"
        f"{'peak MiB':>10}{'gap re-scored':>15}{'gap generate':>14}"
    )
    print("-" * 93)
    for row in rows:
        print(
            f"{row['architecture']:<14}{row['parameters']:>11,}{row['rollout_tokens_per_s']:>15.1f}{row['update_samples_per_s']:>14.2f}"
            f"{row['peak_mib']:>10.0f}{row['logprob_gap_rescored']:>15.2e}{row['logprob_gap_generate']:>14.2e}"
        )
    for key, value in extras.items():
        print(f"{key}: {value}")
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.out:
        Path(args.out).write_text(json.dumps({"device": name, "dtype": args.dtype, "rows": rows, **extras}, indent=2))


if __name__ == "__main__":
    main()
