"""Does a model read the table? Its first answers on held-out deals, checked against the truth.

RL can only learn a decision from what the model reads: a policy that cannot tell one hand from
another learns the best blind action (Blackjack: stand on everything). This plays the first step
of ``--episodes`` held-out deals and counts, per reading field, how often the answer states the
true value: the task's answer fields (EZPoints' and Points24's cards and formula), or for
Blackjack, whose answer has none, the player's total and the dealer's card in the thoughts. Also
counts how often the answer's action is the expert's.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/reading_probe.py MODEL --task gym_cards/Blackjack-v0
    OMP_WAIT_POLICY=PASSIVE python benchmarks/reading_probe.py RUN_DIR --task gym_cards/EZPoints-v0
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def blackjack_reading(answer: str, facts: dict) -> dict[str, bool]:
    """The total and the dealer's card as the expert's sentence words them ("Your total is
    (a soft) 15 against the dealer's ace")."""
    total = re.search(r"total is (?:a soft )?(\d+)", answer)
    dealer = re.search(r"dealer's (\w+)", answer)
    truth = "ace" if facts["dealer"] == 1 else str(facts["dealer"])
    return {
        "player total": bool(total) and int(total.group(1)) == facts["total"],
        "dealer card": bool(dealer) and dealer.group(1) == truth,
    }


def answer_fields(answer: str) -> dict:
    """The answer's JSON object, or {} when there is none to read."""
    try:
        fields = json.loads(answer[answer.find("{") : answer.rfind("}") + 1])
    except ValueError:
        return {}
    return fields if isinstance(fields, dict) else {}


def field_reading(answer: str, truth: dict) -> dict[str, bool]:
    """Each answer field equal to its true value (None read: wrong)."""
    fields = answer_fields(answer)
    return {key: key in fields and json.dumps(fields[key]) == json.dumps(value) for key, value in truth.items()}


def item_reading(answer: str, truth: dict) -> dict[str, tuple[int, int]]:
    """For each list field (Points24's four cards): how many items the answer states right, in
    their place, out of how many; a wrong whole list can still show whether single cards are read."""
    fields = answer_fields(answer)
    counts = {}
    for key, value in truth.items():
        if isinstance(value, list):
            read = fields.get(key) if isinstance(fields.get(key), list) else []
            counts[key] = (sum(a == b for a, b in zip(read, value)), len(value))
    return counts


def probe(model: str, task_name: str, episodes: int, max_new_tokens: int, temperature: float) -> dict:
    import torch
    from stages import load_policy

    from vlm_ppo.evaluation import EVAL_SEED_OFFSET
    from vlm_ppo.rollout import stack_observations
    from vlm_ppo.tasks import make_task

    torch.set_num_threads(min(2, torch.get_num_threads()))
    path = Path(model)
    is_run = (path / "checkpoints").is_dir() or path.name.startswith("update_")  # an RL run or one checkpoint
    policy, _ = load_policy(task_name, model, path if is_run else None, max_new_tokens=max_new_tokens, temperature=temperature)
    task = make_task(task_name)
    envs = [task.make_agent_env() for _ in range(episodes)]
    observations = [env.reset(seed=EVAL_SEED_OFFSET + k)[0] for k, env in enumerate(envs)]
    images, prompts = stack_observations(observations)
    answers = policy.act(images, prompts).answers
    right: Counter[str] = Counter()
    items: Counter[str] = Counter()
    item_totals: Counter[str] = Counter()
    expert_actions = 0
    for env, answer in zip(envs, answers):
        advice = task.expert(env)
        truth = task.read_values(env, advice)
        reading = field_reading(answer, truth) if truth else blackjack_reading(answer, advice.facts)
        right.update(key for key, ok in reading.items() if ok)
        for key in reading:  # every field in the table, read or not
            right.setdefault(key, 0)
        for key, (ok, total) in (item_reading(answer, truth) if truth else {}).items():
            items[key] += ok
            item_totals[key] += total
        parsed = re.search(r'"action":\s*"([^"]*)"', answer)
        expert_actions += bool(parsed) and parsed.group(1) == advice.word
    return {
        "episodes": episodes,
        "read": dict(right),
        "items": {key: (items[key], item_totals[key]) for key in item_totals},
        "expert_action": expert_actions,
        "example": answers[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a model directory or a training run (its latest checkpoint)")
    parser.add_argument("--task", default="gym_cards/Blackjack-v0")
    parser.add_argument("--episodes", type=int, default=48)
    parser.add_argument("--max-new-tokens", type=int, default=80)
    parser.add_argument("--temperature", type=float, default=0.2)
    args = parser.parse_args()
    result = probe(args.model, args.task, args.episodes, args.max_new_tokens, args.temperature)
    n = result["episodes"]
    print(f"| {args.task} first step | read right of {n} |\n|---|---|")
    for key, count in result["read"].items():
        print(f"| {key} | {count} ({count / n:.0%}) |")
    for key, (count, total) in result["items"].items():
        print(f"| {key}, one by one | {count} of {total} ({count / total:.0%}) |")
    print(f"| action = expert's | {result['expert_action']} ({result['expert_action'] / n:.0%}) |")
    print(f"example answer: {result['example']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
