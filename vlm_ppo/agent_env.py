"""The env interface the trainer speaks: observations are ``{"image", "prompt"}``, actions are answers.

Every env the trainer drives (gym_cards games here, ALFWorld later) looks the same from outside:
the observation holds the frame (absent for text-only agents) and the full prompt for this step,
and the action is the model's raw answer text, mapped to an env action inside the env. Whatever
changes from step to step (a formula, ALFWorld's admissible commands) lives in the prompt.
"""

from __future__ import annotations

import gymnasium as gym
from gymnasium import spaces

from gym_cards.wrappers import TextAction
from gym_cards.wrappers.text_observation import text_space
from vlm_ppo.prompts import prompt_for


class PromptObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """``{"image": frame, "prompt": instruction}``; text-only agents get ``{"prompt"}`` with the
    table described in words inside the prompt."""

    def __init__(self, env: gym.Env, chain_of_thought: bool = True, text_only: bool = False) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, chain_of_thought=chain_of_thought, text_only=text_only)
        super().__init__(env)
        self.chain_of_thought = chain_of_thought
        self.text_only = text_only
        prompt_space = spaces.Text(max_length=8192, min_length=0, charset=text_space().character_set)
        if text_only:
            self.observation_space = spaces.Dict({"prompt": prompt_space})
        else:
            if not (isinstance(env.observation_space, spaces.Box) and len(env.observation_space.shape) == 3):
                raise ValueError(f"image agents need image observations, got {env.observation_space}; use text_only=True")
            self.observation_space = spaces.Dict({"image": env.observation_space, "prompt": prompt_space})

    def observation(self, observation) -> dict:
        prompt = prompt_for(self.env, self.chain_of_thought, self.text_only)
        return {"prompt": prompt} if self.text_only else {"image": observation, "prompt": prompt}


def make_agent_env(env_id: str, chain_of_thought: bool = True, text_only: bool = False, **env_kwargs) -> gym.Env:
    """The env as the trainer sees it: prompt observations, answer-text actions (a random action
    when no action can be read, as in the paper), and episode statistics in ``info["episode"]``.
    ALFWorld ids (``alfworld/...``) get the ALFWorld adapter, which speaks the same interface."""
    if env_id.startswith("alfworld/"):
        from vlm_ppo.alfworld import make_alfworld_env

        return make_alfworld_env(env_id, chain_of_thought, text_only, **env_kwargs)
    env = gym.make(env_id, **env_kwargs)
    env = TextAction(PromptObservation(env, chain_of_thought, text_only), on_invalid="random")
    return gym.wrappers.RecordEpisodeStatistics(env)
