"""What the policy adds on top of the model: one rollout step against a bare ``generate``, and one
update per sample against a bare forward + backward.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/rollout_overhead.py [--model PATH] [--num-envs 4] [--max-new-tokens 48]

A rollout step is ``VLMPolicy.act``: chat template + processor, ``generate`` with raw logits and
hidden states, old log-probs, values, the action/thought split and decoding. The reference is what
any agent must do anyway, measured in the same run on the same batch and answer length: processor,
plain ``generate`` (same sampling settings) and decoding. The original RL4VLM ran a second full
forward pass per step for log-probs and values, about 2x. Target: ratio <= 1.10.

The second row is the same step with the old log-probs and values re-scored by the update's forward
pass, as every run computing in bfloat16 does by default (``--old-log-probs auto``): the price of a
ratio that starts at exactly 1 where ``generate``'s arithmetic differs from the forward pass's.

The update reference is a plain forward + backward of the same model (with its LoRA adapters) on the
same prompts and answers; the policy adds the value head, log-prob gathering and masks.
Without ``--model`` a small random LLaVA (hidden 256, 4 layers) is built offline; answers are
forced to the same length in both measurements (``min_new_tokens``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from unittest.mock import patch

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from vlm_ppo.buffer import VLMRolloutSamples  # noqa: E402
from vlm_ppo.config import ModelConfig, TrainConfig  # noqa: E402
from vlm_ppo.model_io import append_answers  # noqa: E402
from vlm_ppo.model_loading import build_policy  # noqa: E402
from vlm_ppo.policy import NEUTRAL_SAMPLING  # noqa: E402
from vlm_ppo.ppo import sequence_log_prob  # noqa: E402
from vlm_ppo.tasks import make_task  # noqa: E402
from vlm_ppo.tiny import build_tiny_model  # noqa: E402


def paired(function, reference, repeats: int) -> tuple[float, float, float]:
    """Median seconds of each and the median of their per-pair ratios, calls interleaved so that
    load from other processes hits both alike."""
    function(), reference()
    times, reference_times, ratios = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        middle = time.perf_counter()
        reference()
        end = time.perf_counter()
        times.append(middle - start)
        reference_times.append(end - middle)
        ratios.append((middle - start) / (end - middle))
    return statistics.median(times), statistics.median(reference_times), statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a Hugging Face VLM directory (default: build a small random LLaVA)")
    parser.add_argument("--num-envs", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"), help="the model's compute dtype")
    args = parser.parse_args()
    torch.manual_seed(0)

    # Answers of one length in both measurements: the bare generate reads min_new_tokens from the
    # model's generation config; the policy switches that config's settings off (NEUTRAL_SAMPLING),
    # so it is told here. EOS is then suppressed without the log-probs knowing: timing only.
    fixed_length = patch.dict(NEUTRAL_SAMPLING, min_new_tokens=args.max_new_tokens)
    with tempfile.TemporaryDirectory() as scratch, fixed_length:
        model_path = args.model or str(
            build_tiny_model(f"{scratch}/llava", "llava", image_size=112, hidden_size=256, num_layers=4)
        )
        config = TrainConfig(
            model=ModelConfig(path=model_path, lora_r=16, lora_alpha=32, dtype=args.dtype),
            max_new_tokens=args.max_new_tokens,
            temperature=0.7,
            value_hidden_sizes=(1024, 512),
            old_log_probs="generate",
        )
        policy = build_policy(config, torch.device("cuda" if torch.cuda.is_available() else "cpu"))
        policy.model.generation_config.min_new_tokens = args.max_new_tokens  # the bare generate's length
        task = make_task("gym_cards/NumberLine-v0")
        envs = [task.make_agent_env() for _ in range(args.num_envs)]
        observations = [env.reset(seed=i)[0] for i, env in enumerate(envs)]
        images = np.stack([o["image"] for o in observations])
        prompts = [o["prompt"] for o in observations]

        def bare_generate():
            inputs = policy.encode(images, prompts)
            out = policy.model.generate(
                **inputs,
                do_sample=True,
                temperature=config.temperature,
                top_k=0,
                top_p=1.0,
                max_new_tokens=args.max_new_tokens,
                pad_token_id=policy.pad_token_id,
            )
            policy.tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)

        rollout = policy.act(images, prompts)
        samples = VLMRolloutSamples(
            images=torch.as_tensor(images),
            prompts=prompts,
            tokens=torch.as_tensor(rollout.tokens),
            token_mask=torch.as_tensor(rollout.token_mask),
            action_mask=torch.as_tensor(rollout.action_mask),
            old_values=None,
            old_log_prob=None,
            advantages=None,
            returns=None,
        )

        def policy_update():
            per_token, values = policy(samples)
            (sequence_log_prob(per_token, samples.token_mask, samples.action_mask, 0.5).sum() + values.sum()).backward()
            policy.zero_grad(set_to_none=True)

        def bare_update():
            inputs = policy.encode(images, prompts)
            policy.model(**append_answers(inputs, samples.tokens, samples.token_mask)).logits.sum().backward()
            policy.zero_grad(set_to_none=True)

        def rescored_act():
            policy.rescore = True  # old log-probs and values from the update's forward pass (bf16's default)
            try:
                policy.act(images, prompts)
            finally:
                policy.rescore = False

        step, reference, step_ratio = paired(lambda: policy.act(images, prompts), bare_generate, args.repeats)
        rescored, rescored_reference, rescored_ratio = paired(rescored_act, bare_generate, args.repeats)
        update, update_reference, update_ratio = paired(policy_update, bare_update, args.repeats)

    n = args.num_envs
    print(f"{'measurement':<40}{'policy':>12}{'reference':>12}{'ratio':>8}")
    print("-" * 72)

    def row(name: str, seconds: float, reference_seconds: float, ratio: float) -> None:
        print(f"{name:<40}{seconds * 1e3:>10.1f}ms{reference_seconds * 1e3:>10.1f}ms{ratio:>8.2f}")

    row(f"rollout step ({n} envs, {args.max_new_tokens} tokens)", step, reference, step_ratio)
    row("  + re-scored by a forward pass", rescored, rescored_reference, rescored_ratio)
    row("update per sample (fwd + bwd)", update / n, update_reference / n, update_ratio)
    print(
        f"\nmodel: {model_path if args.model else 'random LLaVA, hidden 256, 4 layers, 112 px'}, {args.dtype}; "
        f"device: {policy.device}; medians of {args.repeats} interleaved pairs"
    )
    print("target: rollout ratio <= 1.10 (the original's second forward pass made it ~2x)")


if __name__ == "__main__":
    main()
