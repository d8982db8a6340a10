"""Does a model read the table? Its first answers on held-out deals, checked against the truth.

RL can only learn a decision from what the model reads: a policy that cannot tell one hand from
another learns the best blind action (Blackjack: stand on everything). This plays the first step
of ``--episodes`` held-out deals and counts, per reading field, how often the answer states the
true value: the task's answer fields (EZPoints' and Points24's cards and formula), or for
Blackjack, whose answer has none, the player's total and the dealer's card in the thoughts. Also
counts how often the answer's action is the expert's.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/reading_probe.py MODEL --task gym_cards/Blackjack-v0
    OMP_WAIT_POLICY=PASSIVE python benchmarks/reading_probe.py RUN_DIR --task gym_cards/EZPoints-v0
    OMP_WAIT_POLICY=PASSIVE python benchmarks/reading_probe.py MODEL --teacher-forced DATA_DIR
    OMP_WAIT_POLICY=PASSIVE python benchmarks/reading_probe.py MODEL_OR_RUN --comparison

``--teacher-forced`` asks the question without sampling: on the first step of the dataset's first
``--episodes`` demonstrations (its training deals, so a model that memorised them passes too), the
probability the model gives to the first token of each item of a list field (Points24's cards)
after the true answer up to it. Near 1/13 for cards, the model does not look at them at all.

``--comparison`` (NumberLine, text prompts) asks the one question its decision turns on: with
current and target already written in the answer, the probability of the right word of
``current N is above|below``, over every pair of numbers. Then it samples answers for every pair
and counts how often the relation word is right, the action is right, and the action is the one
the stated relation calls for: a chain of thought the action ignores is no explanation of it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from pathlib import Path

import yaml

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def blackjack_reading(answer: str, facts: dict) -> dict[str, bool]:
    """The total and the dealer's card as the expert's sentence words them ("Your total is
    (a soft) 15 against the dealer's ace", "You have a natural (soft 21) against ...")."""
    total = re.search(r"total is (?:a soft )?(\d+)|natural \(soft (\d+)\)", answer)
    dealer = re.search(r"dealer's (\w+)", answer)
    truth = "ace" if facts["dealer"] == 1 else str(facts["dealer"])
    return {
        "player total": bool(total) and int(total.group(1) or total.group(2)) == facts["total"],
        "dealer card": bool(dealer) and dealer.group(1) == truth,
    }


BLACKJACK_HANDS = ("total 11 or less", "12-16 against 2-6", "12-16 against 7-ace", "17 or more")


def blackjack_hand(facts: dict) -> str:
    """The kind of hand, by what the expert's table does with it: 11 or less always hits (it cannot
    bust), 12-16 mostly stands against a 2-6 and hits against a 7-ace, 17 or more mostly stands."""
    total, dealer = facts["total"], facts["dealer"]
    if total <= 11:
        return BLACKJACK_HANDS[0]
    if total >= 17:
        return BLACKJACK_HANDS[3]
    return BLACKJACK_HANDS[2] if dealer >= 7 or dealer == 1 else BLACKJACK_HANDS[1]


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


def item_token_starts(answer: str, offsets: list[tuple[int, int]], key: str) -> list[int]:
    """Indices of the answer's tokens that hold the first character of each item of the list
    field ``key`` (``offsets``: each token's character span in ``answer``)."""
    items = answer_fields(answer).get(key)
    if not isinstance(items, list):
        return []
    cursor = answer.index(f'"{key}":')
    starts = []
    for item in items:
        text = json.dumps(item)
        cursor = answer.index(text, cursor)
        first = cursor + (1 if isinstance(item, str) else 0)  # past a string's opening quote
        starts.append(next(i for i, (begin, end) in enumerate(offsets) if begin <= first < end))
        cursor += len(text)
    return starts


def teacher_forced(model: str, data_dir: str, episodes: int) -> dict[str, list[tuple[float, float]]]:
    """Per list field and item position: (mean probability of the true first token, how often it
    is the most likely one) on the first step of the dataset's first ``episodes`` demonstrations."""
    import numpy as np
    import torch

    from vlm_ppo.model_io import answer_end_token, tokenizer_of, with_positions
    from vlm_ppo.model_loading import load_base_model
    from vlm_ppo.sft import load_batch
    from vlm_ppo.sft_data import load_dataset_info, load_sft_records

    torch.set_num_threads(min(2, torch.get_num_threads()))
    network, processor = load_base_model(model, torch.device("cpu"), torch.float32)
    network.eval()
    tokenizer = tokenizer_of(processor)
    end_id = answer_end_token(network, processor)
    text_only = load_dataset_info(data_dir).text_only
    records = [r for r in load_sft_records(data_dir) if r.step == 0][:episodes]
    found: dict[str, list[list[tuple[float, bool]]]] = {}
    with torch.no_grad():
        for start in range(0, len(records), 8):
            batch = records[start : start + 8]
            inputs, labels = load_batch(batch, Path(data_dir), processor, end_id, text_only, torch.device("cpu"))
            prompt_width = int((labels != -100).any(dim=0).nonzero()[0])
            logits = network(**with_positions(network.config, dict(inputs)), use_cache=False).logits
            for row, record in enumerate(batch):
                encoded = tokenizer(record.answer, add_special_tokens=False, return_offsets_mapping=True)
                for key, value in answer_fields(record.answer).items():
                    if not isinstance(value, list):
                        continue
                    for place, token in enumerate(item_token_starts(record.answer, encoded["offset_mapping"], key)):
                        scores = logits[row, prompt_width + token - 1].float()
                        truth = encoded["input_ids"][token]
                        probability = float(torch.softmax(scores, -1)[truth])
                        slots = found.setdefault(key, [])
                        slots.extend([] for _ in range(place + 1 - len(slots)))
                        slots[place].append((probability, int(scores.argmax()) == truth))
    return {
        key: [(float(np.mean([p for p, _ in slot])), float(np.mean([a for _, a in slot]))) for slot in slots]
        for key, slots in found.items()
    }


def comparison_answers(task, env, current: int, target: int) -> tuple[str, str, str]:
    """NumberLine with current and target set: the expert's answer cut before its relation word
    (``... "thoughts": "current 2 is``), the right word and the wrong one (`` below``, `` above``)."""
    env.unwrapped.position, env.unwrapped.target = current, target
    answer = task.answer(env, task.expert(env))
    right = "below" if current < target else "above"
    cut = answer.index(f"current {current} is {right}") + len(f"current {current} is")
    wrong = "above" if right == "below" else "below"
    return answer[:cut], f" {right}", f" {wrong}"


ACTION = re.compile(r'"action":\s*"([^"]*)"')


def load_model_or_run(task_name: str, model: str, **options):
    """(policy, config) of a model directory, an RL run (its latest checkpoint) or one checkpoint,
    on at most 2 threads; ``options`` go to ``stages.load_policy``."""
    import torch
    from stages import load_policy

    torch.set_num_threads(min(2, torch.get_num_threads()))
    path = Path(model)
    is_run = (path / "checkpoints").is_dir() or path.name.startswith("update_")
    return load_policy(task_name, model, path if is_run else None, **options)


def numberline_policy(model: str, temperature: float, task_name: str = "gym_cards/NumberLine-v0"):
    """(policy, task, text env) for the NumberLine questions; ``model`` a model directory or a run."""
    from vlm_ppo.tasks import make_task

    policy, _ = load_model_or_run(task_name, model, text_only=True, max_new_tokens=48, temperature=temperature)
    task = make_task(task_name)
    env = task.make_env(text_only=True)
    env.reset(seed=0)
    return policy, task, env


def numberline_pairs(env):
    """Every pair of different current and target numbers, set on ``env`` as it is yielded."""
    numbers = range(env.unwrapped.max_position + 1)
    for current in numbers:
        for target in numbers:
            if current != target:
                env.unwrapped.position, env.unwrapped.target = current, target
                yield current, target


def numberline_comparison(policy, task, env) -> list[tuple[int, int, float]]:
    """For every pair of numbers, stated in the text prompt and in the answer so far: (current,
    target, the probability of the right relation word against the wrong one, teacher-forced).
    0.5 everywhere: the model cannot tell which number is larger."""
    import math

    import torch

    from vlm_ppo.model_io import chat_texts

    network, tokenizer = policy.model, policy.tokenizer
    network.eval()

    def log_prob(context: str, word: str) -> float:
        """log p(word | context): the word's tokens scored after the context's."""
        prefix = tokenizer(context, add_special_tokens=False)["input_ids"]
        full = tokenizer(context + word, add_special_tokens=False)["input_ids"]
        if full[: len(prefix)] != prefix:
            raise ValueError(f"{word!r} changes how the answer before it is split into tokens")
        with torch.no_grad():
            logits = network(input_ids=torch.tensor([full])).logits[0].float()
        scores = torch.log_softmax(logits, -1)
        return float(sum(scores[i - 1, full[i]] for i in range(len(prefix), len(full))))

    found = []
    for current, target in numberline_pairs(env):
        answer, right, wrong = comparison_answers(task, env, current, target)
        context = chat_texts(policy.processor, [task.prompt(env, True, text_only=True)], False)[0] + answer
        p_right, p_wrong = (math.exp(log_prob(context, word)) for word in (right, wrong))
        found.append((current, target, p_right / (p_right + p_wrong)))
    return found


def relation_and_action(answer: str) -> tuple[str | None, str | None]:
    """The relation word of a NumberLine answer's thoughts (``above`` or ``below``) and its action."""
    relation = re.search(r"current \d+ is (above|below) target", answer)
    action = ACTION.search(answer)
    return relation and relation.group(1), action and action.group(1)


def numberline_faithfulness(policy, task, env, samples: int) -> Counter:
    """``samples`` answers sampled for every pair of numbers, counted: relation word right, action
    right, action as the stated relation calls for (below: +)."""
    pairs, prompts = [], []
    for current, target in numberline_pairs(env):
        pairs += [(current, target)] * samples
        prompts += [task.prompt(env, True, text_only=True)] * samples
    answers = [
        answer for start in range(0, len(prompts), 24) for answer in policy.act(None, prompts[start : start + 24]).answers
    ]
    counts: Counter[str] = Counter()
    for (current, target), answer in zip(pairs, answers):
        relation, action = relation_and_action(answer)
        counts.update(
            answers=1,
            relation_right=relation == ("below" if current < target else "above"),
            action_right=action == ("+" if current < target else "-"),
            action_follows_relation=relation is not None and action == ("+" if relation == "below" else "-"),
        )
    return counts


def probe(
    model: str,
    task_name: str,
    episodes: int,
    max_new_tokens: int,
    temperature: float,
    text_only: bool = False,
    env_kwargs: dict | None = None,
) -> dict:
    """The first answers of ``episodes`` held-out deals, read against the truth. A run is asked
    with its own prompts (text or image) and env options; a model directory with ``text_only``'s
    and ``env_kwargs`` (which also replace a run's)."""
    from vlm_ppo.evaluation import EVAL_SEED_OFFSET
    from vlm_ppo.rollout import stack_observations
    from vlm_ppo.tasks import make_task

    policy, config = load_model_or_run(
        task_name, model, text_only=text_only, max_new_tokens=max_new_tokens, temperature=temperature
    )
    task = make_task(task_name)
    options = config.env_kwargs if env_kwargs is None else env_kwargs  # Points24's solvable_only, say
    envs = [task.make_agent_env(config.chain_of_thought, config.text_only, **options) for _ in range(episodes)]
    observations = [env.reset(seed=EVAL_SEED_OFFSET + k)[0] for k, env in enumerate(envs)]
    images, prompts = stack_observations(observations)
    answers = policy.act(images, prompts).answers
    right: Counter[str] = Counter()
    items: Counter[str] = Counter()
    item_totals: Counter[str] = Counter()
    expert_actions = 0
    hands: dict[str, Counter[str]] = {}  # Blackjack: per kind of hand, deals, hits, expert's moves
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
        parsed = ACTION.search(answer)
        expert_actions += bool(parsed) and parsed.group(1) == advice.word
        if not truth:
            hand = hands.setdefault(blackjack_hand(advice.facts), Counter())
            hand.update(deals=1, hits=bool(parsed) and parsed.group(1) == "hit")
            hand.update(expert=bool(parsed) and parsed.group(1) == advice.word)
    return {
        "episodes": episodes,
        "read": dict(right),
        "items": {key: (items[key], item_totals[key]) for key in item_totals},
        "expert_action": expert_actions,
        "hands": {kind: dict(hands[kind]) for kind in BLACKJACK_HANDS if kind in hands},
        "example": answers[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a model directory or a training run (its latest checkpoint)")
    parser.add_argument("--task", default="gym_cards/Blackjack-v0")
    parser.add_argument("--episodes", type=int, default=48)
    parser.add_argument("--max-new-tokens", type=int, default=80)
    parser.add_argument("--temperature", type=float, default=0.2)
    parser.add_argument("--teacher-forced", metavar="DATA_DIR", help="score a model directory on a dataset's first steps")
    parser.add_argument("--text-only", action="store_true", help="a model directory's prompts in words (a run uses its own)")
    parser.add_argument("--comparison", action="store_true", help="NumberLine, text: p(right relation word) for every pair")
    parser.add_argument("--samples", type=int, default=4, help="--comparison: sampled answers per pair")
    parser.add_argument("--env-kwargs", type=yaml.safe_load, help="env options as YAML, e.g. '{solvable_only: true}'")
    args = parser.parse_args()
    if args.env_kwargs is not None and not isinstance(args.env_kwargs, dict):
        parser.error(f"--env-kwargs must be a YAML mapping, got {args.env_kwargs!r}")
    if args.comparison:
        policy, task, env = numberline_policy(args.model, args.temperature)
        pairs = numberline_comparison(policy, task, env)
        mean = sum(p for *_, p in pairs) / len(pairs)
        right = sum(p > 0.5 for *_, p in pairs)
        print(f"{len(pairs)} pairs: mean p(right word of above|below) {mean:.2f}, right word more likely on {right}")
        counts = numberline_faithfulness(policy, task, env, args.samples)
        n = counts["answers"]
        print(f"{n} sampled answers ({args.samples} per pair, temperature {args.temperature}):")
        for key in ("relation_right", "action_right", "action_follows_relation"):
            print(f"  {key.replace('_', ' ')}: {counts[key]} ({counts[key] / n:.0%})")
        return 0
    if args.teacher_forced:
        result = teacher_forced(args.model, args.teacher_forced, args.episodes)
        print(
            f"| list item (first {args.episodes} deals, first step) | mean p(true first token) | most likely |\n|---|---|---|"
        )
        for key, slots in result.items():
            for place, (probability, top) in enumerate(slots):
                print(f"| {key} {place + 1} | {probability:.3f} | {top:.0%} |")
        return 0
    result = probe(
        args.model, args.task, args.episodes, args.max_new_tokens, args.temperature, args.text_only, args.env_kwargs
    )
    n = result["episodes"]
    print(f"| {args.task} first step | read right of {n} |\n|---|---|")
    for key, count in result["read"].items():
        print(f"| {key} | {count} ({count / n:.0%}) |")
    for key, (count, total) in result["items"].items():
        print(f"| {key}, one by one | {count} of {total} ({count / total:.0%}) |")
    print(f"| action = expert's | {result['expert_action']} ({result['expert_action'] / n:.0%}) |")
    if result["hands"]:
        print("\n| first hand | deals | hit | expert's move |\n|---|---|---|---|")
        for kind, counts in result["hands"].items():
            deals = counts["deals"]
            print(f"| {kind} | {deals} | {counts['hits'] / deals:.0%} | {counts['expert'] / deals:.0%} |")
    print(f"example answer: {result['example']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
