"""Steps per second of every gym_cards env (random policy, resets included), single and vectorised.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/env_throughput.py [--seconds 2] [--num-envs 4]

Two references are printed beside our figures:
* the original RL4VLM gym-cards, measured on this same 2-core machine class (figures from the
  project's issue tracker; its code is not vendored here), with the speed-up targets;
* measured in this run: the cost of drawing one 300 x 300 frame with PIL from scratch, which is
  what the original did on every step, so the table shows what caching the tiles buys on the
  machine it runs on.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
from PIL import Image, ImageDraw

import gym_cards
from gym_cards.rendering.fonts import load_font

# env id -> (original gym-cards steps/s on this machine class, required speed-up)
REFERENCE = {
    "gym_cards/NumberLine-v0": (1_100, 10),
    "gym_cards/EZPoints-v0": (90, 50),
    "gym_cards/Points24-v0": (100, 50),
    "gym_cards/Blackjack-v0": (14, 50),
}


def single_env_rate(env_id: str, seconds: float) -> float:
    env = gym.make(env_id)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    n_actions = env.action_space.n
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            _, _, terminated, truncated, _ = env.step(int(rng.integers(n_actions)))
            if terminated or truncated:
                env.reset()
        steps += 100
    return steps / (time.perf_counter() - start)


def vector_env_rate(env_id: str, num_envs: int, mode: str, seconds: float) -> float:
    envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode)
    try:
        envs.reset(seed=0)
        envs.action_space.seed(0)
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(20):
                envs.step(envs.action_space.sample())  # autoreset resets finished envs
            steps += 20 * num_envs
        return steps / (time.perf_counter() - start)
    finally:
        envs.close()


def pil_frame_rate(seconds: float) -> float:
    """Frames/s of a from-scratch PIL frame (canvas, two lines of text, to array), like the original."""
    font = load_font(36, bold=True)
    frames, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        image = Image.new("RGB", (300, 300), "white")
        draw = ImageDraw.Draw(image)
        draw.text((30, 60), f"Target: {frames % 6}", fill="black", font=font)
        draw.text((30, 180), f"Current: {frames % 5}", fill="black", font=font)
        np.array(image)
        frames += 1
    return frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--num-envs", type=int, default=4, help="envs per vector env")
    args = parser.parse_args()

    header = (
        f"{'env':<24}{'single':>10}{f'sync x{args.num_envs}':>11}{f'async x{args.num_envs}':>12}"
        f"{'original':>10}{'speed-up':>10}{'target':>8}"
    )
    print(header)
    print("-" * len(header))
    for env_id in gym_cards.ENV_IDS:
        single = single_env_rate(env_id, args.seconds)
        sync = vector_env_rate(env_id, args.num_envs, "sync", args.seconds)
        asynchronous = vector_env_rate(env_id, args.num_envs, "async", args.seconds)
        original, target = REFERENCE[env_id]
        speedup = single / original
        verdict = "ok" if speedup >= target else "MISS"
        print(
            f"{env_id.split('/')[1]:<24}{single:>10,.0f}{sync:>11,.0f}{asynchronous:>12,.0f}"
            f"{original:>10,}{speedup:>9,.0f}x{f'{target}x':>6} {verdict}"
        )
    print(f"\nsame-run reference: one PIL-drawn 300x300 frame from scratch = {pil_frame_rate(args.seconds):,.0f} frames/s")
    print("steps/s with a random policy, resets included; single = gym.make with its default wrappers")


if __name__ == "__main__":
    main()
