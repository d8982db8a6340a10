"""SFT data from expert play: every record is replayable, mistakes are plausible and wrong, files are stable.

Most tests replay a dataset in a fresh env seeded like the build and check each record against
the state it claims to be about: the prompt, the pixels, the answer and the action it parses to.
"""

import itertools
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

import gym_cards
from gym_cards.action_parsing import parse_action
from gym_cards.experts import Advice, FormulaExpert
from gym_cards.formula import numbers_in
from vlm_ppo.sft_data import NOISE_STREAM, DatasetInfo, build_sft_dataset, load_dataset_info, load_sft_records
from vlm_ppo.tasks import make_task  # noqa: E402


def prompt_for(env, chain_of_thought, text_only):
    return make_task(env.spec.id).prompt(env, chain_of_thought, text_only)


def demonstration(env, advice, chain_of_thought):
    return make_task(env.spec.id).answer(env, advice, chain_of_thought)


def task_expert(env) -> Advice:
    """The task's expert move: gym_cards' expert, in the words the task's demonstrations use."""
    return make_task(env.spec.id).expert(env)


NUMBER_LINE = "gym_cards/NumberLine-v0"
EZ_POINTS = "gym_cards/EZPoints-v0"
POINTS24 = "gym_cards/Points24-v0"
BLACKJACK = "gym_cards/Blackjack-v0"
# Small deals that play fast, and Points24 deals the expert can always win.
EPISODES = {NUMBER_LINE: 10, EZ_POINTS: 6, POINTS24: 6, BLACKJACK: 12}
ENV_KWARGS = {NUMBER_LINE: {}, EZ_POINTS: {}, POINTS24: {"solvable_only": True}, BLACKJACK: {}}


def build(tmp_path: Path, env_id: str, name: str = "data", **kwargs) -> tuple[DatasetInfo, Path]:
    kwargs = {"episodes": EPISODES[env_id], "env_kwargs": ENV_KWARGS[env_id], "progress": False, **kwargs}
    info = build_sft_dataset(env_id, out_dir=tmp_path / name, **kwargs)
    return info, tmp_path / name


def thoughts(record) -> str | None:
    return json.loads(record.answer).get("thoughts")


def replay(data_dir: Path, check=None) -> list:
    """Play the records' actions in a fresh env, episode k seeded ``seed + k``, calling
    ``check(env, observation, record)`` in the state before each record's step.

    Checks on the way that every answer parses to a legal action, that steps count from 0, that
    each episode ends exactly at its last record, and that the returns are those recorded.
    """
    info, records = load_dataset_info(data_dir), load_sft_records(data_dir)
    env = gym.make(info.task, **info.env_kwargs)
    returns, episodes = [], []
    for episode, group in itertools.groupby(records, key=lambda record: record.episode):
        group = list(group)
        episodes.append(episode)
        observation, _ = env.reset(seed=info.seed + episode)
        total = 0.0
        for index, record in enumerate(group):
            assert record.step == index
            if check is not None:
                check(env, observation, record)
            parsed = parse_action(record.answer, env.unwrapped.action_words)
            assert parsed.action is not None, parsed.error
            observation, reward, terminated, truncated, _ = env.step(parsed.action)
            total += reward
            assert terminated or truncated if index == len(group) - 1 else not (terminated or truncated)
        returns.append(total)
    assert episodes == list(range(info.episodes))
    assert returns == info.returns
    assert [record.id for record in records] == [f"{i:06d}" for i in range(len(records))]
    return records


def pixels(data_dir: Path, record) -> np.ndarray:
    with Image.open(data_dir / record.image) as image:
        return np.asarray(image.convert("RGB"))


# ------------------------------------------------------------------------ expert play
@pytest.mark.parametrize("env_id", gym_cards.ENV_IDS)
def test_records_are_the_experts_answers_about_the_state_shown(tmp_path, env_id):
    info, data_dir = build(tmp_path, env_id)

    def check(env, observation, record):
        assert record.expert
        assert record.prompt == prompt_for(env, chain_of_thought=True, text_only=False)
        assert record.image == f"images/{record.id}.png"
        assert np.array_equal(pixels(data_dir, record), observation)
        advice = task_expert(env)
        assert record.answer == demonstration(env, advice, chain_of_thought=True)
        assert parse_action(record.answer, env.unwrapped.action_words).action == advice.action

    records = replay(data_dir, check)
    assert (info.records, info.mistakes) == (len(records), 0)
    assert info.mean_return == pytest.approx(np.mean(info.returns))
    if env_id != BLACKJACK:  # the expert wins every NumberLine, EZPoints and solvable Points24 deal
        assert info.success_rate == 1.0
        assert min(info.returns) > 0


@pytest.mark.parametrize("env_id", gym_cards.ENV_IDS)
def test_action_only_answers_hold_nothing_but_the_experts_action(tmp_path, env_id):
    _, data_dir = build(tmp_path, env_id, chain_of_thought=False, text_only=True)

    def check(env, observation, record):
        assert record.prompt == prompt_for(env, chain_of_thought=False, text_only=True)
        assert record.answer == '{"action": "' + task_expert(env).word + '"}'

    replay(data_dir, check)


def test_dataset_info_records_the_arguments(tmp_path):
    info, data_dir = build(tmp_path, NUMBER_LINE, seed=7, noise=0.25, env_kwargs={"max_position": 4, "image_size": [64, 80]})
    assert (info.task, info.episodes, info.seed, info.noise) == (NUMBER_LINE, 10, 7, 0.25)
    assert (info.chain_of_thought, info.text_only, info.env_kwargs) == (
        True,
        False,
        {"max_position": 4, "image_size": [64, 80]},
    )
    assert (info.action_words, info.task_description) == (None, None)
    assert info.format_version == 2
    assert load_dataset_info(data_dir) == info
    assert json.loads((data_dir / "dataset.json").read_text())["format_version"] == 2
    records = replay(data_dir)
    assert info.mistakes == sum(not record.expert for record in records)
    assert pixels(data_dir, records[0]).shape == (64, 80, 3)


# ------------------------------------------------------------------------ mistakes
def check_mistake(env, record) -> None:
    """A mistake: a legal action other than the expert's, with a wrong reason in the expert's form,
    and the reading fields still true to the state."""
    game, advice = env.unwrapped, task_expert(env)
    parsed = parse_action(record.answer, game.action_words)
    word, reason = game.action_words[parsed.action], thoughts(record)
    assert parsed.action != advice.action
    assert record.answer == demonstration(env, Advice(parsed.action, word, reason, advice.facts), chain_of_thought=True)
    if env.spec.id == NUMBER_LINE:
        # the move away from the target, "justified" by misreading the comparison
        assert abs(game.position + (1 if word == "+" else -1) - game.target) > abs(game.position - game.target)
        side = "above" if word == "-" else "below"
        assert reason == f"current {game.position} is {side} target {game.target}, so {word}"
    elif env.spec.id == BLACKJACK:
        pattern = r"^(.+): (\w+) expects (\S+) and (\w+) (\S+), so (\w+)\.$"
        mine, experts = re.match(pattern, reason), re.match(pattern, advice.reason)
        assert mine and experts
        assert mine[1] == experts[1]  # the same hand and dealer card
        assert (mine[2], mine[3], mine[4], mine[5]) == (experts[4], experts[5], experts[2], experts[3])  # true values
        assert mine[6] == word == {"hitting": "hit", "standing": "stand"}[mine[2]]
    else:
        formula = list(game.formula)
        unused = Counter(game.numbers) - Counter(numbers_in(formula))
        assert word != "="
        assert not word.isdigit() or int(word) in unused  # an operator or a card still on the table
        solutions = FormulaExpert().solutions(env)
        assert not any(tokens[: len(formula) + 1] == [*formula, word] for tokens in solutions)
        assert reason.endswith(f"so the next token is {word}")
        if advice.word != "=":
            # the expert's plan with the mistake swapped in (with its later occurrence, if any)
            plan, n = advice.reason.split(" = ")[0].split(), len(formula)
            if word in plan[n + 1 :]:
                plan[plan.index(word, n + 1)] = plan[n]
            plan[n] = word
            assert reason == f"{' '.join(plan)} = {game.target} uses every card once, so the next token is {word}"
        else:
            assert (
                reason
                == f"the formula {' '.join([*formula, word])} can still reach {game.target}, so the next token is {word}"
            )


@pytest.mark.parametrize(
    "env_id, env_kwargs",
    [(env_id, ENV_KWARGS[env_id]) for env_id in gym_cards.ENV_IDS]
    + [(POINTS24, {"treat_face_cards_as_10": False}), (BLACKJACK, {"natural": True})],
)
def test_noisy_records_are_plausible_wrong_moves_that_the_trajectory_follows(tmp_path, env_id, env_kwargs):
    episodes = 3 * EPISODES[env_id]
    info, data_dir = build(tmp_path, env_id, noise=0.5, episodes=episodes, env_kwargs=env_kwargs, text_only=True)

    def check(env, observation, record):
        assert record.prompt == prompt_for(env, chain_of_thought=True, text_only=True)
        if record.expert:
            assert record.answer == demonstration(env, task_expert(env), chain_of_thought=True)
        else:
            check_mistake(env, record)

    records = replay(data_dir, check)
    assert 0 < info.mistakes == sum(not record.expert for record in records) < len(records)


@pytest.mark.parametrize("env_id", gym_cards.ENV_IDS)
def test_with_noise_one_every_move_is_a_mistake(tmp_path, env_id):
    info, data_dir = build(tmp_path, env_id, noise=1.0, text_only=True)
    records = replay(data_dir, lambda env, observation, record: check_mistake(env, record))
    assert not any(record.expert for record in records) and info.mistakes == len(records)
    if env_id != BLACKJACK:  # the formula games never press "=", and NumberLine never gets closer
        assert info.success_rate == 0.0


def test_with_noise_one_number_line_walks_away_until_time_runs_out(tmp_path):
    info, _ = build(tmp_path, NUMBER_LINE, noise=1.0, text_only=True, env_kwargs={"max_position": 3})
    # every step moves away or pushes against an end (-1), for the 2 * max_position steps allowed
    assert info.returns == [-6.0] * info.episodes
    assert info.records == 6 * info.episodes


def test_mistake_rate_matches_noise(tmp_path):
    noise = 0.3
    info, _ = build(tmp_path, NUMBER_LINE, noise=noise, episodes=400, text_only=True)
    assert info.records > 1000
    sigma = (noise * (1 - noise) / info.records) ** 0.5
    assert abs(info.mistakes / info.records - noise) < 5 * sigma


def test_mistakes_come_from_their_own_stream_not_the_envs(tmp_path):
    seed, noise = 5, 0.5
    info, data_dir = build(tmp_path, NUMBER_LINE, seed=seed, noise=noise, episodes=30, text_only=True)
    flags = [record.expert for record in load_sft_records(data_dir)]
    # NumberLine mistakes draw nothing more, so the flags are exactly the documented stream...
    assert flags == list(np.random.default_rng([seed, NOISE_STREAM]).random(info.records) >= noise)
    # ...which is not the stream the env draws its first deal from
    assert flags != list(np.random.default_rng(seed).random(info.records) >= noise)


@pytest.mark.parametrize("env_id", [BLACKJACK, POINTS24])
def test_noise_does_not_change_the_deals(tmp_path, env_id):
    text_only = env_id == POINTS24  # the description names the cards; Blackjack compares pixels
    _, clean = build(tmp_path, env_id, "clean", seed=3, text_only=text_only)
    _, noisy = build(tmp_path, env_id, "noisy", seed=3, noise=0.7, text_only=text_only)
    firsts = [{r.episode: r for r in reversed(load_sft_records(d))} for d in (clean, noisy)]
    assert firsts[0].keys() == firsts[1].keys() == set(range(EPISODES[env_id]))
    for episode, record in firsts[0].items():
        other = firsts[1][episode]
        assert record.prompt == other.prompt
        if not text_only:
            assert (clean / record.image).read_bytes() == (noisy / other.image).read_bytes()


# ------------------------------------------------------------------------ files
def tree(data_dir: Path) -> dict[str, bytes]:
    return {str(path.relative_to(data_dir)): path.read_bytes() for path in sorted(data_dir.rglob("*")) if path.is_file()}


def test_same_arguments_give_byte_identical_files(tmp_path):
    arguments = {"seed": 11, "noise": 0.4, "episodes": 4}
    _, first = build(tmp_path, EZ_POINTS, "first", **arguments)
    _, second = build(tmp_path, EZ_POINTS, "second", **arguments)
    assert tree(first) == tree(second)
    assert {"dataset.json", "records.jsonl", "llava.json", "images/000000.png"} <= tree(first).keys()
    _, other_seed = build(tmp_path, EZ_POINTS, "other", **{**arguments, "seed": 12})
    assert (first / "records.jsonl").read_bytes() != (other_seed / "records.jsonl").read_bytes()


def test_llava_json_holds_the_same_conversations(tmp_path):
    _, data_dir = build(tmp_path, BLACKJACK, noise=0.3)
    records, llava = load_sft_records(data_dir), json.loads((data_dir / "llava.json").read_text())
    assert len(llava) == len(records)
    for entry, record in zip(llava, records):
        assert list(entry) == ["id", "image", "conversations"]
        assert (entry["id"], entry["image"]) == (record.id, record.image)
        assert (data_dir / entry["image"]).is_file()
        assert entry["conversations"] == [
            {"from": "human", "value": "<image>\n" + record.prompt},
            {"from": "gpt", "value": record.answer},
        ]


def test_text_only_datasets_have_no_images(tmp_path):
    _, data_dir = build(tmp_path, EZ_POINTS, text_only=True)
    records, llava = load_sft_records(data_dir), json.loads((data_dir / "llava.json").read_text())
    assert not (data_dir / "images").exists()
    assert all(record.image is None and "Table: Cards:" in record.prompt for record in records)
    assert "<image>" not in (data_dir / "llava.json").read_text()
    for entry, record in zip(llava, records):
        assert list(entry) == ["id", "conversations"]
        assert entry["conversations"][0] == {"from": "human", "value": record.prompt}


def test_blackjack_symbolic_observations_need_text_only(tmp_path):
    with pytest.raises(ValueError, match="gives no images.*--text-only"):
        build(tmp_path, BLACKJACK, env_kwargs={"is_pixel": False})
    assert not (tmp_path / "data").exists()
    info, _ = build(tmp_path, BLACKJACK, env_kwargs={"is_pixel": False}, text_only=True)
    assert info.records > 0


@pytest.mark.parametrize(
    "arguments, error, message",
    [
        ({"episodes": 0}, ValueError, "episodes"),
        ({"noise": 1.5}, ValueError, "noise"),
        ({"seed": -1}, ValueError, "seed"),
        ({"env_kwargs": {"max_position": object()}}, ValueError, "JSON"),
        ({"env_kwargs": [1, 2]}, ValueError, "env_kwargs must be a YAML mapping"),
        ({"env_kwargs": "foo"}, ValueError, "env_kwargs must be a YAML mapping"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(tmp_path, arguments, error, message):
    with pytest.raises(error, match=message):
        build(tmp_path, NUMBER_LINE, **arguments)
    assert not (tmp_path / "data").exists()


def test_unknown_envs_and_used_directories_are_refused(tmp_path):
    with pytest.raises(ValueError, match="not a registered task: give its action words"):
        build_sft_dataset("CartPole-v1", 1, tmp_path / "cartpole", progress=False)
    with pytest.raises(ValueError, match="has no expert"):
        build_sft_dataset(
            "CartPole-v1",
            1,
            tmp_path / "cartpole",
            progress=False,
            action_words=["left", "right"],
            task_description="Balance the pole.",
        )
    assert not (tmp_path / "cartpole").exists()
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not an empty directory"):
        build_sft_dataset(NUMBER_LINE, 1, tmp_path / "used", progress=False)
    assert [path.name for path in (tmp_path / "used").iterdir()] == ["notes.txt"]


# ------------------------------------------------------------------------ loading errors
@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("sft"), NUMBER_LINE, episodes=3)[1]


@pytest.fixture
def copy(small_dataset, tmp_path) -> Path:
    return Path(shutil.copytree(small_dataset, tmp_path / "copy"))


def rewrite_line(path: Path, number: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n")


def test_loading_a_missing_directory_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_sft_records(tmp_path / "nowhere")


@pytest.mark.parametrize("name", ["dataset.json", "records.jsonl"])
def test_loading_without_a_dataset_file_names_it(copy, name):
    (copy / name).unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(name)):
        load_sft_records(copy)


def test_loading_a_bad_json_line_names_the_line(copy):
    rewrite_line(copy / "records.jsonl", 2, '{"id": "000001", "image": ')
    with pytest.raises(ValueError, match="line 2 is not valid JSON"):
        load_sft_records(copy)


def test_loading_a_record_with_a_wrong_field_names_the_line_and_field(copy):
    record = json.loads((copy / "records.jsonl").read_text().splitlines()[2])
    rewrite_line(copy / "records.jsonl", 3, json.dumps({**record, "step": "0"}))
    with pytest.raises(ValueError, match="line 3: field 'step'"):
        load_sft_records(copy)


def test_loading_with_a_missing_image_names_it(copy):
    (copy / "images" / "000001.png").unlink()
    with pytest.raises(FileNotFoundError, match="images/000001.png"):
        load_sft_records(copy)


def test_loading_another_format_version_is_refused(copy):
    info = json.loads((copy / "dataset.json").read_text())
    (copy / "dataset.json").write_text(json.dumps({**info, "format_version": 1}))
    with pytest.raises(ValueError, match="format_version 1; this code reads format_version 2"):
        load_sft_records(copy)


def test_loading_a_truncated_records_file_is_refused(copy):
    lines = (copy / "records.jsonl").read_text().splitlines()
    (copy / "records.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match=f"has {len(lines) - 1} records but dataset.json says {len(lines)}"):
        load_sft_records(copy)


def test_the_held_out_seed_boundary_is_evaluations():
    from vlm_ppo.evaluation import EVAL_SEED_OFFSET
    from vlm_ppo.rollout import TRAIN_SEED_LIMIT
    from vlm_ppo.sft_data import HELD_OUT_SEEDS

    assert HELD_OUT_SEEDS == EVAL_SEED_OFFSET == TRAIN_SEED_LIMIT
