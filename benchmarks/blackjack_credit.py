"""What a first hit is worth in Blackjack while the later moves are still random: why RL stands.

    python benchmarks/blackjack_credit.py [--deals 200] [--seed 1000000000] [--hit-chances 0.5 0.25 0]

On-policy RL judges the first move by the return of the whole episode, so a hit is worth what
the policy's own later moves make of it. A model fine-tuned on noisy demonstrations hits about
half the time on any hand; this script computes, exactly (the env's infinite deck, by recursion
over the cards drawn), the expected return of standing and of hitting on the first move when every later
move hits with a fixed chance, averaged over the first hands of the given deals by kind of hand
(the kinds of ``reading_probe.py``), beside hitting and then playing optimally. It reads no model.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from functools import cache
from pathlib import Path

import gymnasium as gym

import gym_cards  # noqa: F401  (registers the envs)
from gym_cards.experts.blackjack import CARD_PROBABILITIES, _after_hit, strategy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reading_probe import BLACKJACK_HANDS, blackjack_hand  # noqa: E402


def first_move_values(total: int, soft: bool, dealer: int, natural: bool, hit_chance: float) -> tuple[float, float]:
    """Expected returns ``(stand, hit)`` of the first move when every later move hits with
    probability ``hit_chance`` (and stands otherwise), whatever the hand: the exact solver's
    standing values, and hitting's by the same recursion over the cards drawn."""
    best = strategy()

    @cache
    def hit(state: tuple[int, bool]) -> float:
        value = 0.0
        for card, chance in CARD_PROBABILITIES:
            after = _after_hit(state, card)
            if after[0] > 21:
                value -= float(chance)
                continue
            stand = best.action_values(after[0], after[1], dealer)[0]
            value += float(chance) * ((1 - hit_chance) * stand + hit_chance * hit(after))
        return value

    return best.action_values(total, soft, dealer, natural)[0], hit((total, soft))


def credit_table(deals: int, seed: int, hit_chances: list[float]) -> dict[str, dict]:
    """Per kind of first hand: the deals, and the mean exact value of standing, of hitting with
    each later-move hit chance, and of hitting then playing optimally."""
    env = gym.make("gym_cards/Blackjack-v0")
    best = strategy()
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for k in range(deals):
        env.reset(seed=seed + k)
        total, dealer, soft = env.unwrapped.symbolic_observation()
        natural = bool(soft) and total == 21 and len(env.unwrapped.player) == 2
        row = sums[blackjack_hand({"total": total, "dealer": dealer})]
        row["deals"] += 1
        stand, optimal_hit = best.action_values(total, bool(soft), dealer, natural)
        row["stand"] += stand
        row["hit, then optimal"] += optimal_hit
        for chance in hit_chances:
            row[f"hit, then hit {chance:.0%}"] += first_move_values(total, bool(soft), dealer, natural, chance)[1]
    return {
        kind: {name: value if name == "deals" else value / sums[kind]["deals"] for name, value in sums[kind].items()}
        for kind in BLACKJACK_HANDS
        if kind in sums
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=200)
    parser.add_argument("--seed", type=int, default=10**9, help="the first deal's reset seed (default: the held-out deals)")
    parser.add_argument("--hit-chances", type=float, nargs="+", default=[0.5, 0.25, 0.0], help="later moves' chance to hit")
    args = parser.parse_args()
    table = credit_table(args.deals, args.seed, args.hit_chances)
    columns = list(next(iter(table.values())))
    print("| first hand | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for kind, row in table.items():
        print(f"| {kind} | " + " | ".join(f"{row[c]:.0f}" if c == "deals" else f"{row[c]:+.3f}" for c in columns) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
