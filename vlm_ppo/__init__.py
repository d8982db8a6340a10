"""PPO fine-tuning of Hugging Face vision-language models that think, then act.

The pieces, in the order data flows: ``prompts`` and ``agent_env`` (what the model sees and how
its answer reaches the env), ``policy`` (generation, log-probs, values; ``action_split`` finds
the action tokens), ``buffer`` (SB3's rollout buffer), ``ppo`` (the loss and update),
``trainer`` (the loop, with ``checkpoint``), and ``cli`` (``vlm-ppo``). Heavy libraries are
imported by the modules that need them, so ``import vlm_ppo`` is cheap.
"""
