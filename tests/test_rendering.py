"""Rendering: fonts come from the package, frames fit their space at any size, the human window."""

import hashlib
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import gym_cards
from gym_cards.rendering.fonts import font_path, load_font

ROOT = Path(__file__).resolve().parents[1]
FRAME_DIGEST = (
    "import gymnasium as gym, gym_cards, hashlib\n"
    "env = gym.make('gym_cards/Points24-v0'); obs, _ = env.reset(seed=3)\n"
    "print(hashlib.sha256(env.step(14)[0].tobytes()).hexdigest())\n"
)


def test_fonts_are_loaded_from_the_package_itself():
    package_dir = Path(str(resources.files("gym_cards.fonts")))
    for bold in (False, True):
        path = Path(font_path(bold))
        assert path.parent == package_dir and path.is_file()
        assert load_font(20, bold).path == str(path)
    assert (package_dir / "LICENSE").is_file()


def test_frames_do_not_depend_on_the_working_directory(tmp_path):
    env = gym.make("gym_cards/Points24-v0")
    env.reset(seed=3)
    here = hashlib.sha256(env.step(14)[0].tobytes()).hexdigest()
    for cwd in (tmp_path, ROOT):
        digest = subprocess.run(
            [sys.executable, "-c", FRAME_DIGEST], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        assert digest == here


def test_wheel_ships_the_fonts(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"gym_cards/fonts/DejaVuSans.ttf", "gym_cards/fonts/DejaVuSans-Bold.ttf", "gym_cards/fonts/LICENSE"} <= names


@pytest.mark.parametrize("env_id", gym_cards.ENV_IDS)
@pytest.mark.parametrize("size", [56, (120, 200), (400, 260)])
def test_frames_match_the_observation_space_at_any_size(env_id, size):
    env = gym.make(env_id, image_size=size, render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    for _ in range(8):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
        assert np.array_equal(env.render(), obs)
        if terminated or truncated:
            break


def test_ansi_render_is_text():
    env = gym.make("gym_cards/Blackjack-v0", render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    assert text == env.unwrapped.describe() and text.startswith("Dealer: ") and "face-down" in text


def test_render_without_mode_warns_and_returns_none():
    env = gym.make("gym_cards/EZPoints-v0").unwrapped
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.render() is None


def test_human_window_with_a_dummy_display(monkeypatch):
    pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    env = gym.make("gym_cards/NumberLine-v0", render_mode="human")
    monkeypatch.setitem(env.unwrapped.metadata, "render_fps", 1000)
    env.reset(seed=0)
    env.step(1)
    window = env.unwrapped._window
    assert window is not None and window._screen.get_size() == (300, 300)
    env.close()
    assert env.unwrapped._window is None
