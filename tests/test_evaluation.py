"""Held-out evaluation: which episodes it plays and how it reports them."""

from __future__ import annotations


def test_evaluation_returns_come_in_seed_order_whatever_finishes_first():
    """A stub that always answers "+" on NumberLine: each held-out episode's return depends on its
    deal only, so one env at a time and three at once must list the same returns, seed by seed
    (episodes of different lengths finish in another order when played side by side)."""
    from types import SimpleNamespace

    from vlm_ppo.evaluation import evaluate_policy
    from vlm_ppo.tasks import make_task

    def act(images, prompts):
        return SimpleNamespace(answers=['{"action": "+"}'] * len(prompts), finished=[True] * len(prompts))

    task = make_task("gym_cards/NumberLine-v0")
    one, three = (
        evaluate_policy(SimpleNamespace(act=act), task, 8, batch=batch, text_only=True, progress=False) for batch in (1, 3)
    )
    assert one.returns == three.returns and len(set(one.returns)) > 1
