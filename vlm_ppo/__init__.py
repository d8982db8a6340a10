"""PPO fine-tuning of Hugging Face vision-language models that think, then act.

Not built yet: this package is reserved for the training half of the project (see the
vlm_ppo issue). ``gym_cards`` does not import it.
"""
