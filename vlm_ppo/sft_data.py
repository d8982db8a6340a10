"""Supervised fine-tuning data from expert play: the first stage of the think-then-act pipeline.

The paper fine-tunes the model on expert demonstrations with chain-of-thought before PPO, so
that the policy starts out writing well-formed answers with sensible thoughts. This module plays
a task's expert in the task's agent env and writes, for every step, the frame, the exact prompt
the policy sees and the exact answer it should write (:meth:`vlm_ppo.tasks.Task.answer`, built
from the expert's facts), so training on the records teaches the very format that PPO later
reads actions from. Any task with an expert works the same way.

A deliberately weak starting policy is made with ``noise``: at each step, with probability
``noise``, the expert's move is replaced by the task's *plausible mistake*
(:meth:`vlm_ppo.tasks.Task.mistake`: for NumberLine the opposite move with the comparison misread,
for Blackjack the other action with its true value, for the formula games a token off every
solution with the plan it believes in, for ALFWorld another admissible command), written from
the expert's facts in the expert's own words, and the env is stepped with the mistake (the
trajectory follows what the record says; the record has ``expert: false``).

Episode ``k`` is reset with seed ``seed + k``; the mistakes are drawn from a separate generator
seeded with ``[seed, NOISE_STREAM]`` (never the bare seed, whose stream is the env's own), so the
deals do not depend on ``noise`` and the same arguments give byte-identical files. Every step
draws one number from it (a mistake when it is below ``noise``); a mistake may draw more (a
formula game's token, ALFWorld's command).

The directory written::

    OUT/
      dataset.json        # DatasetInfo as JSON (format_version 2), written last: a build that
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
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from vlm_ppo.config import check_env_kwargs
from vlm_ppo.tasks import TaskError, make_task
from vlm_ppo.tasks.task import endless_episode, episode_step_cap

FORMAT_VERSION = 2
INFO_FILE = "dataset.json"
RECORDS_FILE = "records.jsonl"
LLAVA_FILE = "llava.json"
IMAGE_DIR = "images"
IMAGE_TOKEN = "<image>\n"
# Evaluation resets its episodes with seeds from here on (vlm_ppo.evaluation.EVAL_SEED_OFFSET,
# which imports torch; a test checks the two agree).
HELD_OUT_SEEDS = 10**9

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
    :param prompt: the task's prompt in the state the answer is about.
    :param answer: the task's answer for the move taken (:meth:`vlm_ppo.tasks.Task.answer`).
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

    :param task: the task played (its registered name, or a Gymnasium env id).
    :param episodes: the number of episodes played.
    :param seed: episode ``k`` was reset with seed ``seed + k``.
    :param noise: the chance of a deliberate mistake at each step.
    :param chain_of_thought: whether answers hold the reading fields and thoughts.
    :param text_only: whether prompts describe the table in words instead of showing images.
    :param env_kwargs: the keyword arguments given to ``gym.make``.
    :param action_words: a Gymnasium env's action words (None for a registered task).
    :param task_description: a Gymnasium env's task description (None for a registered task).
    :param records: the number of records (steps played).
    :param mistakes: how many records are mistakes (``expert: false``).
    :param mean_return: the mean episode return.
    :param success_rate: the fraction of successful episodes (the task's rule).
    :param returns: every episode's return, in order.
    :param format_version: the layout version; :func:`load_sft_records` reads only its own.
    """

    task: str
    episodes: int
    seed: int
    noise: float
    chain_of_thought: bool
    text_only: bool
    env_kwargs: dict
    action_words: list[str] | None
    task_description: str | None
    records: int
    mistakes: int
    mean_return: float
    success_rate: float
    returns: list[float]
    format_version: int = FORMAT_VERSION


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
    if seed + episodes > HELD_OUT_SEEDS:
        raise ValueError(
            f"demonstration seeds {seed}..{seed + episodes - 1} would reach the held-out evaluation seeds (from "
            f"{HELD_OUT_SEEDS:_}); choose a seed of at most {HELD_OUT_SEEDS - episodes:_}"
        )
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be a probability between 0 and 1, got {noise!r}")
    try:
        json.dumps(env_kwargs)
    except TypeError as error:
        raise ValueError(f"env_kwargs must be JSON-serialisable to be recorded in {INFO_FILE}: {error}") from None
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} already exists and is not an empty directory; choose a new out_dir")


def build_sft_dataset(
    task_name: str,
    episodes: int,
    out_dir: str | Path,
    seed: int = 0,
    noise: float = 0.0,
    chain_of_thought: bool = True,
    text_only: bool = False,
    env_kwargs: dict | None = None,
    progress: bool = True,
    action_words: list[str] | None = None,
    task_description: str | None = None,
) -> DatasetInfo:
    """Play ``episodes`` episodes with the task's expert and write one record per step.

    :param task_name: a task (see :func:`vlm_ppo.tasks.make_task`) with an expert.
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
    :param action_words: for a Gymnasium env id: its action words.
    :param task_description: for a Gymnasium env id: what the task is.
    :return: the :class:`DatasetInfo` also written to ``dataset.json``.
    :raises ValueError: for a task without an expert, an out-of-range argument, or an image
        dataset of an env whose observations are not images.
    :raises FileExistsError: when ``out_dir`` exists and is not an empty directory.
    """
    check_env_kwargs(env_kwargs)
    env_kwargs = dict(env_kwargs or {})
    out = Path(out_dir)
    task = make_task(task_name, action_words, task_description)
    _check_arguments(episodes, seed, noise, env_kwargs, out)
    env = task.make_agent_env(chain_of_thought, text_only, **env_kwargs)
    rng = np.random.default_rng([seed, NOISE_STREAM])
    llava: list[dict] = []
    returns: list[float] = []
    wins: list[bool] = []
    mistakes = 0
    cap = episode_step_cap(env)
    existed = out.exists()
    try:
        env.reset(seed=seed)
        if task.expert(env) is None:
            raise TaskError(f"task {task.name!r} has no expert to play demonstrations with")
        out.mkdir(parents=True, exist_ok=True)
        if not text_only:
            (out / IMAGE_DIR).mkdir()
        with (out / RECORDS_FILE).open("w", encoding="utf-8", newline="\n") as lines:
            for episode in tqdm(range(episodes), unit="episode", desc=f"sft {task.name}", disable=not progress):
                observation, _ = env.reset(seed=seed + episode)
                total, step, done = 0.0, 0, False
                while not done:
                    by_expert = bool(rng.random() >= noise)
                    advice = task.expert(env)
                    if not by_expert:
                        advice = task.mistake(env, advice, rng)
                    answer = task.answer(env, advice, chain_of_thought)
                    mistakes += not by_expert
                    record_id = f"{len(llava):06d}"
                    record = SFTRecord(
                        id=record_id,
                        image=None if text_only else f"{IMAGE_DIR}/{record_id}.png",
                        prompt=observation["prompt"],
                        answer=answer,
                        expert=by_expert,
                        episode=episode,
                        step=step,
                    )
                    if record.image is not None:
                        Image.fromarray(observation["image"]).save(
                            out / record.image, format="PNG", compress_level=PNG_COMPRESS_LEVEL
                        )
                    lines.write(json.dumps(asdict(record)) + "\n")
                    llava.append(_llava_entry(record))
                    observation, reward, terminated, truncated, info = env.step(answer)
                    total += float(reward)
                    step += 1
                    done = terminated or truncated
                    if not done and step >= cap:
                        raise ValueError(endless_episode("sft-data", task.name, cap))
                returns.append(total)
                wins.append(bool(task.is_success(total, info)))
        info = DatasetInfo(
            task=task.name,
            episodes=episodes,
            seed=seed,
            noise=float(noise),
            chain_of_thought=chain_of_thought,
            text_only=text_only,
            env_kwargs=json.loads(json.dumps(env_kwargs)),  # as dataset.json will give it back (tuples as lists)
            action_words=list(action_words) if action_words else None,
            task_description=task_description,
            records=len(llava),
            mistakes=mistakes,
            mean_return=float(np.mean(returns)),
            success_rate=float(np.mean(wins)),
            returns=returns,
        )
        (out / LLAVA_FILE).write_text(json.dumps(llava, indent=1) + "\n", encoding="utf-8")
        (out / INFO_FILE).write_text(json.dumps(asdict(info), indent=2) + "\n", encoding="utf-8")  # last: done
    except BaseException:
        _remove_unfinished(out, existed)  # an unfinished dataset is not left to be mistaken for data
        raise
    finally:
        env.close()
    return info


def _remove_unfinished(out: Path, existed: bool) -> None:
    """Remove what an interrupted :func:`build_sft_dataset` wrote into ``out`` (an empty
    directory, or none, when it began)."""
    if not out.exists():
        return
    if not existed:
        shutil.rmtree(out, ignore_errors=True)
        return
    for child in out.iterdir():
        shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)


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
        raise ValueError(
            f"{path} lacks fields {sorted(expected - set(data))} and has unknown fields {sorted(set(data) - expected)}"
        )
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
                raise ValueError(
                    f"{where}: record {record.id} has image {record.image!r} in a dataset with text_only={info.text_only}"
                )
            if record.image is not None and not (directory / record.image).is_file():
                raise FileNotFoundError(f"{where}: the image {record.image} of record {record.id} is missing from {directory}")
            records.append(record)
    if len(records) != info.records:
        raise ValueError(f"{path} has {len(records)} records but {INFO_FILE} says {info.records}")
    return records
