"""NumberLine rules: moves, rewards, termination, truncation, start distribution."""

import numpy as np
import pytest

from gym_cards.envs.number_line import NumberLineEnv, step_reward


def at(env: NumberLineEnv, position: int, target: int) -> NumberLineEnv:
    env.reset(seed=0)
    env.position, env.target = position, target
    return env


def test_reward_rules_by_hand():
    assert step_reward(previous=2, current=3, target=3) == 1  # reached
    assert step_reward(previous=1, current=2, target=4) == 0  # closer
    assert step_reward(previous=2, current=1, target=4) == -1  # away
    assert step_reward(previous=0, current=0, target=4) == -1  # pushed against the left end


def test_moves_and_rewards_through_step():
    env = at(NumberLineEnv(), position=2, target=4)
    _, reward, terminated, truncated, info = env.step(1)
    assert (reward, terminated, truncated, info) == (0.0, False, False, {"Target": 4, "Current": 3})
    _, reward, terminated, _, info = env.step(0)
    assert (reward, terminated, info["Current"]) == (-1.0, False, 2)
    env.step(1)
    _, reward, terminated, truncated, info = env.step(1)
    assert (reward, terminated, truncated, info["Current"]) == (1.0, True, False, 4)


def test_ends_of_the_line_hold_and_cost():
    env = at(NumberLineEnv(max_position=5), position=0, target=3)
    _, reward, _, _, info = env.step(0)
    assert (reward, info["Current"]) == (-1.0, 0)
    env = at(NumberLineEnv(max_position=5), position=5, target=3)
    _, reward, _, _, info = env.step(1)
    assert (reward, info["Current"]) == (-1.0, 5)


def test_truncated_after_twice_max_position_steps():
    env = at(NumberLineEnv(max_position=3), position=0, target=3)
    flags = [env.step(0)[2:4] for _ in range(6)]  # pushing against the end never arrives
    assert flags[:5] == [(False, False)] * 5
    assert flags[5] == (False, True)


def test_reaching_target_on_last_step_is_terminated_not_truncated():
    env = at(NumberLineEnv(max_position=2), position=0, target=2)
    env.step(0), env.step(0), env.step(1)
    assert env.step(1)[2:4] == (True, False)  # 4th step = 2 * max_position, and arrives


def test_start_never_equals_target_and_covers_all_pairs():
    env = NumberLineEnv(max_position=3)
    env.reset(seed=1)
    pairs = []
    for _ in range(3000):
        _, info = env.reset()
        pairs.append((info["Current"], info["Target"]))
    assert all(c != t for c, t in pairs)
    counts = {p: pairs.count(p) for p in set(pairs)}
    assert len(counts) == 4 * 3  # every ordered pair of distinct positions occurs
    expected = 3000 / 12
    assert all(abs(n - expected) < 5 * np.sqrt(expected) for n in counts.values())


@pytest.mark.parametrize("bad", [0, -3, 2.5, "5", None, True])
def test_rejects_bad_max_position(bad):
    with pytest.raises(ValueError, match="max_position"):
        NumberLineEnv(max_position=bad)


def test_frame_changes_with_position_and_target():
    env = at(NumberLineEnv(), position=1, target=4)
    a = env._frame()
    env.position = 2
    b = env._frame()
    env.target = 5
    c = env._frame()
    assert not np.array_equal(a, b) and not np.array_equal(b, c)


def test_large_line_renders_inside_canvas():
    env = NumberLineEnv(max_position=200, image_size=(64, 96))
    obs, _ = env.reset(seed=3)
    assert obs.shape == (64, 96, 3) and obs.dtype == np.uint8


def test_ansi_render_describes_what_the_image_shows():
    env = at(NumberLineEnv(max_position=3, render_mode="ansi"), position=1, target=3)
    assert env.render() == "Number line from 0 to 3. Target: 3. Current: 1."


@pytest.mark.parametrize("image_size, max_position", [(300, 100), (56, 30), (56, 5), (112, 10), (300, 37)])
def test_the_axis_labels_never_run_into_each_other(monkeypatch, image_size, max_position):
    """The last label is always drawn; a regular label that would touch it is left out (at 300 px
    and max 100 the axis read "0 22 44 66 88100")."""
    import gym_cards.envs.number_line as number_line

    placed = []
    real_paste = number_line.paste

    def recording_paste(frame, tile, x, y, mask=None):
        placed.append((x, y, tile.shape[1]))
        return real_paste(frame, tile, x, y, mask)

    monkeypatch.setattr(number_line, "paste", recording_paste)
    env = NumberLineEnv(max_position=max_position, image_size=image_size)
    env.reset(seed=0)
    label_row = max(y for _, y, _ in placed[:1]) if placed else None
    labels = sorted((x, width) for x, y, width in placed if y == label_row)
    assert len(labels) >= 2
    for (x, width), (next_x, _) in zip(labels, labels[1:]):
        assert x + width < next_x, labels
