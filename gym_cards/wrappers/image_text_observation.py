"""Image and description together, for multimodal agents that also get the words."""

from __future__ import annotations

import gymnasium as gym
from gymnasium import spaces

from gym_cards.wrappers.text_observation import require_describe, text_space


class ImageTextObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """A ``Dict`` observation ``{"image": uint8 H x W x 3, "text": description}``.

    The text is the same description ``TextObservation`` gives. Needs pixel observations
    (for Blackjack, ``is_pixel=True``, the default).
    """

    def __init__(self, env: gym.Env) -> None:
        image_space = env.observation_space
        if not (isinstance(image_space, spaces.Box) and len(image_space.shape) == 3):
            raise ValueError(f"ImageTextObservation needs image observations, got {image_space}")
        require_describe(env)
        gym.utils.RecordConstructorArgs.__init__(self)
        super().__init__(env)
        self.observation_space = spaces.Dict({"image": image_space, "text": text_space()})

    def observation(self, observation) -> dict:
        return {"image": observation, "text": self.env.unwrapped.describe()}
