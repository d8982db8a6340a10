"""Where ALFWorld games come from: ALFWorld's data, the shipped tiny games, or any folder.

A game is a folder as ALFWorld lays them out (``json_2.1.1/<split>/<task folder>/<trial>/``)
holding ``traj_data.json`` (the task: type and targets) and ``game.tw-pddl`` (the PDDL domain,
problem and grammar that ALFWorld's text engine plays). ALFWorld's own loader
(``AlfredTWEnv.collect_game_files``) keeps a game only when its ``game.tw-pddl`` says
``"solvable": true`` and skips the movable-receptacle and sliced-object tasks; so does
:func:`find_games`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

# ALFWorld's six task types (alfworld.agents.environment.alfred_tw_env.TASK_TYPES), in its order.
TASK_TYPES = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)
# The short names the paper (and our metrics) use for them.
SHORT_NAMES = {
    "pick_and_place_simple": "pick_and_place",
    "look_at_obj_in_light": "look_at_obj_in_light",
    "pick_clean_then_place_in_recep": "pick_clean_then_place",
    "pick_heat_then_place_in_recep": "pick_heat_then_place",
    "pick_cool_then_place_in_recep": "pick_cool_then_place",
    "pick_two_obj_and_place": "pick_two_obj_and_place",
}
SPLITS = {"train": "train", "valid_seen": "valid_seen", "valid_unseen": "valid_unseen", "shipped": None}
GAME_FILE = "game.tw-pddl"
TRAJ_FILE = "traj_data.json"


class GamesNotFoundError(FileNotFoundError):
    """No playable game where the env was told to look (the message says how to get some)."""


@dataclass(frozen=True)
class Game:
    """One playable game.

    :param path: its ``game.tw-pddl``.
    :param task_type: one of :data:`TASK_TYPES`.
    :param pddl_params: the task's targets (``object_target``, ``parent_target``,
        ``toggle_target``, ``mrecep_target``, ``object_sliced``), as in ``traj_data.json``.
    """

    path: Path
    task_type: str
    pddl_params: dict

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def short_type(self) -> str:
        return SHORT_NAMES.get(self.task_type, self.task_type)


def shipped_games_dir() -> Path:
    """The folder of tiny games shipped with the package (one per task type)."""
    return Path(str(resources.files("vlm_ppo.alfworld") / "games"))


def alfworld_data_dir() -> Path:
    """``$ALFWORLD_DATA`` (ALFWorld's default ``~/.cache/alfworld`` when unset)."""
    return Path(os.path.expandvars(os.environ.get("ALFWORLD_DATA", os.path.expanduser("~/.cache/alfworld"))))


def split_dir(split: str) -> Path:
    """Where ALFWorld keeps the games of ``split`` (``train``, ``valid_seen``, ``valid_unseen``)."""
    if split not in SPLITS or SPLITS[split] is None:
        raise ValueError(f"split must be one of {[s for s in SPLITS if SPLITS[s]]}, got {split!r}")
    return alfworld_data_dir() / "json_2.1.1" / SPLITS[split]


def _missing_data_message(where: Path, split: str | None) -> str:
    return (
        f"no ALFWorld games found in {where}. "
        + (
            f"The {split!r} split comes from ALFWorld's data: run `alfworld-download` (it fetches "
            "~2 GB into $ALFWORLD_DATA, default ~/.cache/alfworld; `export ALFWORLD_DATA=/path` to "
            "put it elsewhere), then point the env at it again. "
            if split is not None
            else ""
        )
        + "Without the data, use the tiny games shipped with the package (games='shipped') or "
        "pass games=PATH (--games PATH) with any folder of ALFWorld games "
        "(<task folder>/<trial>/{traj_data.json, game.tw-pddl})."
    )


def find_games(root: str | os.PathLike, task_types: tuple[str, ...] | None = None) -> list[Game]:
    """Every playable game under ``root``, sorted by path.

    Skips, as ALFWorld does, games whose ``game.tw-pddl`` is missing or not marked solvable and
    the movable-receptacle and sliced-object tasks; ``task_types`` keeps only those types.
    """
    root = Path(root)
    if task_types is not None:
        unknown = sorted(set(task_types) - set(TASK_TYPES))
        if unknown:
            raise ValueError(f"unknown task types {unknown}; known: {list(TASK_TYPES)}")
    games = []
    for traj_path in sorted(root.rglob(TRAJ_FILE)):
        folder = traj_path.parent
        if "movable" in str(folder) or "Sliced" in str(folder):
            continue
        game_path = folder / GAME_FILE
        if not game_path.is_file():
            continue
        traj = read_json(traj_path)
        if traj.get("task_type") not in TASK_TYPES or (task_types is not None and traj["task_type"] not in task_types):
            continue
        if not read_json(game_path).get("solvable"):
            continue
        games.append(Game(game_path, traj["task_type"], dict(traj.get("pddl_params", {}))))
    return games


def read_json(path: Path) -> dict:
    """A game's JSON file as an object; a ValueError naming the file when it is damaged (one
    line, rather than a parser's position in a file nobody named among thousands)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}); re-download or remove that game") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds a {type(data).__name__}, not a JSON object; re-download or remove that game")
    return data


def resolve_games(
    games: str | os.PathLike | None = None, split: str = "train", task_types: tuple[str, ...] | None = None
) -> list[Game]:
    """The games an env plays: ``games`` is a folder (any layout with ALFWorld games under it),
    ``"shipped"`` for the package's tiny games, or None for ALFWorld's data split ``split``
    under ``$ALFWORLD_DATA``. Raises :class:`GamesNotFoundError` (saying how to get games) when
    there are none."""
    if games is None:
        where, named_split = split_dir(split), split
    elif str(games) == "shipped":
        where, named_split = shipped_games_dir(), None
    else:
        where, named_split = Path(games).expanduser(), None
    found = find_games(where, task_types) if where.is_dir() else []
    if not found:
        raise GamesNotFoundError(_missing_data_message(where, named_split))
    return found


def task_description(game: Game, rng) -> str:
    """ALFWorld's templated task for ``game`` (``alfworld.agents.utils.misc.get_templated_task_desc``),
    with the wording drawn from ``rng`` (a ``numpy.random.Generator``) instead of the global
    ``random``: call once per episode and keep it."""
    import alfworld.gen.goal_library as glib

    params = game.pddl_params
    goal = game.task_type + ("_slice" if params.get("object_sliced") else "")
    templates = glib.gdict[goal]["templates"]
    template = templates[int(rng.integers(len(templates)))]
    words = {key: (params.get(f"{key}_target") or "").lower() for key in ("object", "parent", "toggle", "mrecep")}
    return template.format(obj=words["object"], recep=words["parent"], toggle=words["toggle"], mrecep=words["mrecep"])
