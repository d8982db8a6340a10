"""Supervised fine-tuning data from expert play: the first stage of the think-then-act pipeline.

The paper fine-tunes the model on expert demonstrations with chain-of-thought before PPO, so
that the policy starts out writing well-formed answers with sensible thoughts. This module rolls
out the gym_cards experts and writes, for every step, the frame, the exact prompt the policy sees
(:func:`vlm_ppo.prompts.prompt_for`) and the exact answer it should write
(:func:`vlm_ppo.prompts.demonstration`), so training on the records teaches the very format that
PPO later reads actions from.

A deliberately weak starting policy is made with ``noise``: at each step, with probability
``noise``, the expert's move is replaced by a *plausible mistake* together with a wrong reason in
the expert's own words, and the env is stepped with the mistake (the trajectory follows what the
record says; the record has ``expert: false``). The mistakes, per env:

* NumberLine: the opposite move, with the comparison misread: when the expert says
  ``"current 2 is below target 4, so +"``, the mistake says ``"current 2 is above target 4, so -"``.
* Blackjack: the other action, with the expert's sentence (the hand, the dealer's card, the true
  expected values of both actions) but the conclusion reversed:
  ``"Your total is 18 against the dealer's ace: hitting expects -0.72 and standing -0.38, so hit."``
* EZPoints and Points24: a token that is the next token of no solution the expert knows (so it
  leaves every solution; the expert then ends the episode with ``=``). It is never ``=`` and never
  the expert's token, and it is drawn uniformly from the tokens that keep the formula well formed
  using only cards still on the table (a card number not used yet or ``(`` where an operand comes,
  an operator or a closing ``)`` where an operator comes); when no such token is wrong, from the
  operators, parentheses and unused card numbers (so EZPoints' first-token mistakes are always
  ``+`` or ``*``: either card starts a solution). The reason is the expert's solution with the
  token swapped in (swapped with its next occurrence when the solution has it later on), e.g.
  ``"3 + 4 = 12 uses every card once, so the next token is +"``; where the expert presses ``=``
  (formula done, hopeless or no solution) it is ``"the formula 3 * 4 + can still reach 12, so
  the next token is +"``.

Episode ``k`` is reset with seed ``seed + k``; the mistakes are drawn from a separate generator
seeded with ``[seed, NOISE_STREAM]`` (never the bare seed, whose stream is the env's own), so the
deals do not depend on ``noise`` and the same arguments give byte-identical files. Every step
draws one number from it (a mistake when it is below ``noise``); a formula-game mistake draws one
more to pick its token.

The directory written::

    OUT/
      dataset.json        # DatasetInfo as JSON (format_version 1), written last: a build that
                          # stopped early has none, and load_sft_records refuses it
      records.jsonl       # one SFTRecord per line, in the order played
      images/000000.png   # the frame the prompt refers to, named after the record id (no images/
                          # when text_only: the prompt then describes the table in words)
      llava.json          # the same records in LLaVA's conversation layout, for other trainers:
                          # [{"id", "image": "images/000000.png", "conversations": [
                          #    {"from": "human", "value": "<image>\\n" + prompt},
                          #    {"from": "gpt", "value": answer}]}]
                          # (no "image" key and no "<image>\\n" when text_only)
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from PIL import Image
from tqdm.auto import tqdm

from gym_cards.experts import Advice, FormulaExpert, expert_for
from gym_cards.formula import OPERATORS, numbers_in
from vlm_ppo.prompts import demonstration, game_of, prompt_for

FORMAT_VERSION = 1
INFO_FILE = "dataset.json"
RECORDS_FILE = "records.jsonl"
LLAVA_FILE = "llava.json"
IMAGE_DIR = "images"
IMAGE_TOKEN = "<image>\n"
# Mixed into the seed of the mistake generator: the env seeds its generator with the bare seed,
# and the same seed would give the same stream, tying the mistakes to the deals.
NOISE_STREAM = 0x5F7DA7A
# Frames are flat colours and text: the fastest zlib level is about twice as quick as Pillow's
# default and the files only about a tenth larger.
PNG_COMPRESS_LEVEL = 1


@dataclass
class SFTRecord:
    """One supervised example: the policy sees ``image`` and ``prompt`` and should write ``answer``.

    :param id: the record's number as six or more digits, also the image's file name.
    :param image: the frame's path relative to the dataset directory, ``None`` when text-only.
    :param prompt: :func:`~vlm_ppo.prompts.prompt_for` in the state the answer is about.
    :param answer: :func:`~vlm_ppo.prompts.demonstration` of the move taken.
    :param expert: ``False`` when the move is a deliberate mistake (``noise``).
    :param episode: the episode, 0-based; it was reset with seed ``DatasetInfo.seed + episode``.
    :param step: the step within the episode, 0-based.
    """

    id: str
    image: str | None
    prompt: str
    answer: str
    expert: bool
    episode: int
    step: int


_RECORD_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "image": (str, type(None)),
    "prompt": (str,),
    "answer": (str,),
    "expert": (bool,),
    "episode": (int,),
    "step": (int,),
}


@dataclass
class DatasetInfo:
    """How a dataset was made and how the play went (``dataset.json``).

    :param env_id: the gym_cards env played.
    :param episodes: the number of episodes played.
    :param seed: episode ``k`` was reset with seed ``seed + k``.
    :param noise: the chance of a deliberate mistake at each step.
    :param chain_of_thought: whether answers hold the reading fields and thoughts.
    :param text_only: whether prompts describe the table in words instead of showing images.
    :param env_kwargs: the keyword arguments given to ``gym.make``.
    :param records: the number of records (steps played).
    :param mistakes: how many records are mistakes (``expert: false``).
    :param mean_return: the mean episode return.
    :param success_rate: the fraction of episodes with a positive return (the paper's success).
    :param returns: every episode's return, in order.
    :param format_version: the layout version; :func:`load_sft_records` reads only its own.
    """

    env_id: str
    episodes: int
    seed: int
    noise: float
    chain_of_thought: bool
    text_only: bool
    env_kwargs: dict
    records: int
    mistakes: int
    mean_return: float
    success_rate: float
    returns: list[float]
    format_version: int = FORMAT_VERSION


# ----------------------------------------------------------------------------- mistakes
Mistake = Callable[[gym.Env, Advice, np.random.Generator], Advice]

_BLACKJACK_REASON = re.compile(
    r"^(?P<hand>.+): (?P<chosen>\w+) expects (?P<chosen_value>\S+) and (?P<other>\w+) (?P<other_value>\S+), so \w+\.$"
)
_FORMULA_REASON = re.compile(r"^(?P<tokens>.+) = -?\d+ uses every card once, so the next token is \S+$")


def _number_line_mistake(env: gym.Env, advice: Advice, rng: np.random.Generator) -> Advice:
    """The opposite move, reading the comparison the wrong way round."""
    game = env.unwrapped
    word = "-" if advice.word == "+" else "+"
    side = "above" if word == "-" else "below"
    return Advice(game.action_words.index(word), word, f"current {game.position} is {side} target {game.target}, so {word}")


def _blackjack_mistake(env: gym.Env, advice: Advice, rng: np.random.Generator) -> Advice:
    """The other action, with the expert's sentence and values but the conclusion reversed."""
    match = _BLACKJACK_REASON.match(advice.reason)
    if match is None:
        raise RuntimeError(f"the Blackjack expert's reason {advice.reason!r} no longer has the form this module rewrites")
    words = env.unwrapped.action_words
    word = words[1 - words.index(advice.word)]
    reason = f"{match['hand']}: {match['other']} expects {match['other_value']} and {match['chosen']} {match['chosen_value']}, so {word}."
    return Advice(words.index(word), word, reason)


def _well_formed_next(formula: list[str], unused: Counter[int], words: tuple[str, ...]) -> set[str]:
    """The action words that keep ``formula`` a well-formed start using only unused cards."""
    expect_operand, depth = True, 0
    for token in formula:
        depth += (token == "(") - (token == ")")
        expect_operand = token in OPERATORS or token == "("
    if expect_operand:
        candidates = {str(number) for number in unused} | {"("}
    else:
        candidates = set(OPERATORS) | ({")"} if depth > 0 else set())
    return candidates & set(words)


def _formula_mistake(env: gym.Env, advice: Advice, rng: np.random.Generator) -> Advice:
    """A well-formed-looking token that leaves every solution the expert knows, with a wrong plan."""
    game = env.unwrapped
    formula, words, n = list(game.formula), tuple(game.action_words), len(game.formula)
    unused = Counter(game.numbers) - Counter(numbers_in(formula))
    on_solution = {tokens[n] for tokens in FormulaExpert().solutions(env) if len(tokens) > n and tokens[:n] == formula}
    wrong = [word for word in words if word not in on_solution and word not in ("=", advice.word)]
    well_formed = _well_formed_next(formula, unused, words)
    choices = [word for word in wrong if word in well_formed] or [
        word for word in wrong if not word.isdigit() or int(word) in unused
    ]
    word = choices[int(rng.integers(len(choices)))]
    if advice.word == "=":
        reason = f"the formula {' '.join([*formula, word])} can still reach {game.target}, so the next token is {word}"
    else:
        match = _FORMULA_REASON.match(advice.reason)
        if match is None:
            raise RuntimeError(f"the formula expert's reason {advice.reason!r} no longer has the form this module rewrites")
        plan = match["tokens"].split()
        if word in plan[n + 1 :]:
            plan[plan.index(word, n + 1)] = plan[n]
        plan[n] = word
        reason = f"{' '.join(plan)} = {game.target} uses every card once, so the next token is {word}"
    return Advice(words.index(word), word, reason)


_MISTAKES: dict[str, Mistake] = {
    "number_line": _number_line_mistake,
    "blackjack": _blackjack_mistake,
    "ez_points": _formula_mistake,
    "points24": _formula_mistake,
}


# ----------------------------------------------------------------------------- writing
def _llava_entry(record: SFTRecord) -> dict:
    """The record as one LLaVA conversation (image first when there is one)."""
    human = record.prompt if record.image is None else IMAGE_TOKEN + record.prompt
    entry: dict = {"id": record.id}
    if record.image is not None:
        entry["image"] = record.image
    entry["conversations"] = [{"from": "human", "value": human}, {"from": "gpt", "value": record.answer}]
    return entry


def _check_arguments(episodes: int, seed: int, noise: float, env_kwargs: dict, out: Path) -> None:
    """Refuse bad arguments before anything is played or written."""
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be an int >= 1, got {episodes!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be a probability between 0 and 1, got {noise!r}")
    try:
        json.dumps(env_kwargs)
    except TypeError as error:
        raise ValueError(f"env_kwargs must be JSON-serialisable to be recorded in {INFO_FILE}: {error}") from None
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} already exists and is not an empty directory; choose a new out_dir")


def _alfworld_step(env: gym.Env, observation: dict, by_expert: bool, rng: np.random.Generator) -> tuple[str, str, str, np.ndarray | None]:
    """Prompt, answer, the env action (the answer text) and the image of one ALFWorld step. A
    mistake is another admissible command, written with the expert's own kind of thoughts."""
    game = env.unwrapped
    command = None
    if not by_expert:
        others = [c for c in game.admissible_commands if c != game.expert_command()]
        command = others[int(rng.integers(len(others)))] if others else None
    answer = game.expert_answer(command)
    return observation["prompt"], answer, answer, observation.get("image")


def build_sft_dataset(
    env_id: str,
    episodes: int,
    out_dir: str | Path,
    seed: int = 0,
    noise: float = 0.0,
    chain_of_thought: bool = True,
    text_only: bool = False,
    env_kwargs: dict | None = None,
    progress: bool = True,
) -> DatasetInfo:
    """Play ``episodes`` episodes with the env's expert and write one record per step.

    :param env_id: a gym_cards env id (one with a prompt, see :data:`vlm_ppo.prompts.GAMES`), or
        ``alfworld/ALFWorld-v0`` (the expert is ALFWorld's planner; a mistake is another
        admissible command; success is winning).
    :param episodes: how many episodes to play; episode ``k`` is reset with seed ``seed + k``.
    :param out_dir: a new or empty directory to write the dataset into (see the module docstring).
    :param seed: the first episode's seed; it also seeds the mistake generator (with a stream
        constant mixed in).
    :param noise: the chance, at each step, of replacing the expert's move with a plausible
        mistake (see the module docstring); 0 gives pure expert play.
    :param chain_of_thought: write the reading fields and thoughts before the action (otherwise
        the action-only ablation: ``{"action": ...}``).
    :param text_only: prompts describe the table in words and no images are written.
    :param env_kwargs: keyword arguments for ``gym.make`` (JSON-serialisable, as they are recorded).
    :param progress: show a progress bar over episodes.
    :return: the :class:`DatasetInfo` also written to ``dataset.json``.
    :raises ValueError: for an env without prompts or expert, an out-of-range argument, or an
        image dataset of an env whose observations are not images.
    :raises FileExistsError: when ``out_dir`` exists and is not an empty directory.
    """
    env_kwargs = dict(env_kwargs or {})
    out = Path(out_dir)
    alfworld = env_id.startswith("alfworld/")
    mistake = None if alfworld else _MISTAKES[game_of(env_id)]
    _check_arguments(episodes, seed, noise, env_kwargs, out)
    if alfworld:
        from vlm_ppo.alfworld import make_alfworld_env

        env = make_alfworld_env(env_id, chain_of_thought, text_only, **env_kwargs)
    else:
        env = gym.make(env_id, **env_kwargs)
        space = env.observation_space
        if not text_only and not (isinstance(space, spaces.Box) and len(space.shape) == 3 and space.dtype == np.uint8):
            env.close()
            raise ValueError(f"image records need uint8 image observations, {env_id} gives {space}; use text_only=True")
    expert = None if alfworld else expert_for(env)
    rng = np.random.default_rng([seed, NOISE_STREAM])
    out.mkdir(parents=True, exist_ok=True)
    if not text_only:
        (out / IMAGE_DIR).mkdir()
    llava: list[dict] = []
    returns: list[float] = []
    wins: list[bool] = []
    mistakes = 0
    with (out / RECORDS_FILE).open("w", encoding="utf-8", newline="\n") as lines:
        for episode in tqdm(range(episodes), unit="episode", desc=f"sft {env_id}", disable=not progress):
            observation, _ = env.reset(seed=seed + episode)
            total, step, done = 0.0, 0, False
            while not done:
                by_expert = bool(rng.random() >= noise)
                if alfworld:
                    prompt, answer, action, image = _alfworld_step(env, observation, by_expert, rng)
                else:
                    advice = expert.advise(env)
                    if not by_expert:
                        advice = mistake(env, advice, rng)
                    prompt, answer = prompt_for(env, chain_of_thought, text_only), demonstration(env, advice, chain_of_thought)
                    action, image = advice.action, observation
                mistakes += not by_expert
                record_id = f"{len(llava):06d}"
                record = SFTRecord(
                    id=record_id,
                    image=None if text_only else f"{IMAGE_DIR}/{record_id}.png",
                    prompt=prompt,
                    answer=answer,
                    expert=by_expert,
                    episode=episode,
                    step=step,
                )
                if record.image is not None:
                    Image.fromarray(image).save(out / record.image, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
                lines.write(json.dumps(asdict(record)) + "\n")
                llava.append(_llava_entry(record))
                observation, reward, terminated, truncated, info = env.step(action)
                total += float(reward)
                step += 1
                done = terminated or truncated
            returns.append(total)
            wins.append(bool(info["alfworld_won"]) if alfworld else total > 0)
    env.close()
    info = DatasetInfo(
        env_id=env_id,
        episodes=episodes,
        seed=seed,
        noise=float(noise),
        chain_of_thought=chain_of_thought,
        text_only=text_only,
        env_kwargs=json.loads(json.dumps(env_kwargs)),  # as dataset.json will give it back (tuples as lists)
        records=len(llava),
        mistakes=mistakes,
        mean_return=float(np.mean(returns)),
        success_rate=float(np.mean(wins)),
        returns=returns,
    )
    (out / LLAVA_FILE).write_text(json.dumps(llava, indent=1) + "\n", encoding="utf-8")
    (out / INFO_FILE).write_text(json.dumps(asdict(info), indent=2) + "\n", encoding="utf-8")
    return info


# ----------------------------------------------------------------------------- reading
def load_dataset_info(data_dir: str | Path) -> DatasetInfo:
    """Read and check ``dataset.json``.

    :param data_dir: a directory written by :func:`build_sft_dataset`.
    :raises FileNotFoundError: when the directory or its ``dataset.json`` is missing.
    :raises ValueError: when ``dataset.json`` is not valid JSON, has another ``format_version``,
        or does not have the fields of :class:`DatasetInfo`.
    """
    directory = Path(data_dir)
    if not directory.is_dir():
        raise FileNotFoundError(f"SFT dataset directory {directory} does not exist")
    path = directory / INFO_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: {directory} is not a finished SFT dataset (build_sft_dataset writes {INFO_FILE} last)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(data).__name__}")
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has format_version {data.get('format_version')!r}; this code reads format_version {FORMAT_VERSION}"
        )
    expected = {field.name for field in fields(DatasetInfo)}
    if set(data) != expected:
        raise ValueError(f"{path} lacks fields {sorted(expected - set(data))} and has unknown fields {sorted(set(data) - expected)}")
    return DatasetInfo(**data)


def _record(data: object, where: str) -> SFTRecord:
    """An :class:`SFTRecord` from one decoded line, or a ``ValueError`` saying what is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: a record must be a JSON object, got {type(data).__name__}")
    if set(data) != set(_RECORD_TYPES):
        raise ValueError(f"{where}: a record has exactly the fields {list(_RECORD_TYPES)}, got {sorted(data)}")
    for name, types in _RECORD_TYPES.items():
        value = data[name]
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            raise ValueError(f"{where}: field {name!r} must be {' or '.join(t.__name__ for t in types)}, got {value!r}")
    return SFTRecord(**data)


def load_sft_records(data_dir: str | Path) -> list[SFTRecord]:
    """Read a dataset's records, checking the directory as it goes.

    :param data_dir: a directory written by :func:`build_sft_dataset`.
    :return: the records in the order they were played.
    :raises FileNotFoundError: when the directory, ``dataset.json``, ``records.jsonl`` or a
        record's image is missing.
    :raises ValueError: for a ``format_version`` other than this module's, a line that is not a
        valid record (the message gives the line number), a record whose image does not match
        the dataset's ``text_only``, or a record count other than ``dataset.json``'s.
    """
    info = load_dataset_info(data_dir)
    directory = Path(data_dir)
    path = directory / RECORDS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the SFT dataset {directory}")
    records: list[SFTRecord] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            where = f"{path} line {number}"
            try:
                record = _record(json.loads(line), where)
            except json.JSONDecodeError as error:
                raise ValueError(f"{where} is not valid JSON: {error}") from None
            if (record.image is None) != info.text_only:
                raise ValueError(f"{where}: record {record.id} has image {record.image!r} in a dataset with text_only={info.text_only}")
            if record.image is not None and not (directory / record.image).is_file():
                raise FileNotFoundError(f"{where}: the image {record.image} of record {record.id} is missing from {directory}")
            records.append(record)
    if len(records) != info.records:
        raise ValueError(f"{path} has {len(records)} records but {INFO_FILE} says {info.records}")
    return records
