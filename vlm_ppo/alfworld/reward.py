"""The paper's ALFWorld reward, and the goal-condition rate the text engine does not report.

RL4VLM rewards every step with ``50 * won + goal_condition_success_rate - 1 * illegal``: 50 when
the step wins, plus the goal-condition success rate of the state the step reached (the rate
itself, every step, as their code reads it from AlfredThorEnv's info; not its increment), minus 1
when the answer held no admissible command. :func:`step_reward` is that formula; ``gc_mode=
"increment"`` gives the change of the rate instead (rewards then add up to the final rate), for
whoever wants the shaping without the per-step level.

ALFWorld's THOR env counts goal conditions with hand-written code per task type; its text engine
(TextWorld over PDDL) reports only ``won``. :class:`GoalConditions` computes the rate from the
game's own PDDL goal instead, so it works for any goal of ALFWorld's library:

* the goal's literals are split into *constraints* (those whose predicate no action of the
  domain ever changes: ``objectType``, ``receptacleType``, ``cleanable``, ``receptacleAtLocation``,
  equality, ...) and *conditions* (predicates some action changes: ``inReceptacle``, ``isHot``,
  ``holds``, ``isToggled``, ``atLocation``, ...);
* the constraints pick which objects the goal can be about (every way to bind the goal's
  existential variables that satisfies all constraints);
* the rate is the largest fraction of conditions that hold, over those bindings.

So "put a hot potato in the dining table" has two conditions (``isHot ?o``, ``inReceptacle ?o
?r``): 0 at the start, 0.5 once some potato is hot (or some potato is on a dining table), 1 when
one hot potato is on one. "Look at a book under the desk lamp" has four (lamp toggled, agent at
the lamp's place, holding a book, and the lamp in its receptacle, which holds from the start, so
the rate starts at 0.25 there); "put two pencils in a drawer" two (one per pencil). The rate is
1 exactly when the goal holds, which the tests check against the engine's ``won``. These are not
THOR's hand-written counts (look-at: 2 conditions starting at 0; heat, cool and clean: 3).
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

WIN_REWARD = 50.0
ILLEGAL_PENALTY = 1.0
GC_MODES = ("level", "increment")


def step_reward(
    won: bool,
    goal_condition: float,
    legal: bool,
    previous_goal_condition: float = 0.0,
    gc_mode: str = "level",
    win_reward: float = WIN_REWARD,
    illegal_penalty: float = ILLEGAL_PENALTY,
) -> float:
    """``win_reward * won + gc - illegal_penalty * (not legal)``, with ``gc`` the goal-condition
    rate after the step (``gc_mode="level"``, the paper's) or its change over the step
    (``"increment"``)."""
    if gc_mode not in GC_MODES:
        raise ValueError(f"gc_mode must be one of {GC_MODES}, got {gc_mode!r}")
    gc = goal_condition if gc_mode == "level" else goal_condition - previous_goal_condition
    return float(win_reward * bool(won) + gc - (0.0 if legal else illegal_penalty))


# ------------------------------------------------------------------ a small PDDL reader
_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def parse_sexp(text: str) -> list:
    """PDDL text as nested lists of lower-case tokens (comments dropped)."""
    text = re.sub(r";[^\n]*", "", text).lower()
    stack: list[list] = [[]]
    for token in _TOKEN.findall(text):
        if token == "(":
            stack.append([])
        elif token == ")":
            if len(stack) == 1:
                raise ValueError("unbalanced ')' in PDDL text")
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(token)
    if len(stack) != 1:
        raise ValueError("unbalanced '(' in PDDL text")
    return stack[0]


def _section(tree: list, key: str) -> list | None:
    """The ``(key ...)`` list inside a ``(define ...)`` (searched one level down)."""
    for define in tree:
        if isinstance(define, list) and define and define[0] == "define":
            for part in define:
                if isinstance(part, list) and part and part[0] == key:
                    return part
    return None


def _typed_names(tokens: Sequence) -> list[tuple[str, str]]:
    """``a b - t c - u`` as ``[(a, t), (b, t), (c, u)]`` (untyped names get ``object``)."""
    names, out, i = [], [], 0
    while i < len(tokens):
        if tokens[i] == "-" and i + 1 < len(tokens):
            out += [(n, tokens[i + 1]) for n in names]
            names, i = [], i + 2
        else:
            names.append(tokens[i])
            i += 1
    return out + [(n, "object") for n in names]


def changing_predicates(domain_text: str) -> frozenset[str]:
    """Predicates that some action's effect adds or deletes (the rest never change)."""
    changed: set[str] = set()

    def walk(node, in_effect: bool) -> None:
        if not isinstance(node, list):
            return
        for i, child in enumerate(node):
            if child == ":effect" and i + 1 < len(node):
                collect(node[i + 1])
            walk(child, in_effect)

    def collect(node) -> None:
        if not isinstance(node, list) or not node:
            return
        head = node[0]
        if head in ("and", "not", "forall", "when"):
            for child in node[1:]:
                collect(child)
        elif head in ("increase", "decrease", "assign"):
            return
        elif isinstance(head, str):
            changed.add(head)

    walk(parse_sexp(domain_text), False)
    return frozenset(changed)


@dataclass(frozen=True)
class _Literal:
    predicate: str
    args: tuple[str, ...]
    negated: bool

    def variables(self) -> set[str]:
        return {a for a in self.args if a.startswith("?")}


class GoalConditions:
    """The goal of one PDDL problem, to measure how much of it a state satisfies.

    :param problem_text: the problem (``initial_state.pddl`` / ``game["pddl_problem"]``).
    :param domain_text: the domain, to tell the predicates that change from those that don't.
    """

    def __init__(self, problem_text: str, domain_text: str) -> None:
        tree = parse_sexp(problem_text)
        goal = _section(tree, ":goal")
        if goal is None or len(goal) < 2:
            raise ValueError("the PDDL problem has no (:goal ...)")
        objects = _section(tree, ":objects") or [":objects"]
        self.domains: dict[str, list[str]] = defaultdict(list)
        for name, kind in _typed_names(objects[1:]):
            self.domains[kind].append(name)
        self.changing = changing_predicates(domain_text)
        self.variables: dict[str, str] = {}
        self.literals: list[_Literal] = []
        self._counter = itertools.count()
        self._read(goal[1], {}, negated=False)
        self.conditions = [lit for lit in self.literals if lit.predicate in self.changing]
        self.constraints = [lit for lit in self.literals if lit.predicate not in self.changing]
        if not self.conditions:
            raise ValueError("the goal has no condition that an action can change")

    # -- reading the goal formula
    def _read(self, node, scope: dict[str, str], negated: bool) -> None:
        if not isinstance(node, list) or not node:
            raise ValueError(f"unexpected goal element {node!r}")
        head = node[0]
        if head == "and":
            if negated:
                raise ValueError("negated conjunctions are not supported in goals")
            for child in node[1:]:
                self._read(child, scope, negated)
        elif head == "exists":
            if negated:
                raise ValueError("negated existentials are not supported in goals")
            inner = dict(scope)
            for name, kind in _typed_names([t for t in node[1] if t != ","]):
                unique = f"{name}#{next(self._counter)}"  # the same name may be reused in another scope
                inner[name] = unique
                self.variables[unique] = kind
            self._read(node[2], inner, negated)
        elif head == "not":
            self._read(node[1], scope, not negated)
        elif head in ("or", "forall", "imply", "when"):
            raise ValueError(f"'{head}' is not supported in goals")
        else:
            args = tuple(scope.get(a, a) if a.startswith("?") else a for a in node[1:])
            self.literals.append(_Literal(head, args, negated))

    # -- measuring a state
    @property
    def total(self) -> int:
        """How many goal conditions there are."""
        return len(self.conditions)

    def satisfied(self, facts: Iterable[tuple[str, ...]]) -> int:
        """The most goal conditions one binding satisfies in the state of ``facts`` (tuples
        ``(predicate, arg, ...)``, lower case, everything true in the state)."""
        true = set(facts)
        index: dict[tuple, set] = defaultdict(set)  # (predicate, position, value) -> facts
        for fact in true:
            for position, value in enumerate(fact[1:]):
                index[(fact[0], position, value)].add(fact)
        best = [-1]
        order = self._order()

        def holds(lit: _Literal, binding: dict[str, str]) -> bool:
            args = tuple(binding.get(a, a) for a in lit.args)
            value = (args[0] == args[1]) if lit.predicate == "=" else ((lit.predicate, *args) in true)
            return value != lit.negated

        def ready(lit: _Literal, binding: dict[str, str]) -> bool:
            return lit.variables() <= binding.keys()

        def candidates(var: str, binding: dict[str, str]) -> Iterable[str]:
            # Values that some positive constraint allows, given what is bound so far.
            for lit in self.constraints:
                if lit.negated or lit.predicate == "=" or var not in lit.args:
                    continue
                if (lit.variables() - {var}) <= binding.keys():
                    position = lit.args.index(var)
                    bound = [(i, binding.get(a, a)) for i, a in enumerate(lit.args) if a != var]
                    pool = (
                        index[(lit.predicate, bound[0][0], bound[0][1])]
                        if bound
                        else {f for f in true if f[0] == lit.predicate}
                    )
                    return sorted({f[1 + position] for f in pool if all(f[1 + i] == v for i, v in bound)})
            return self.domains.get(self.variables[var], [])

        def search(depth: int, binding: dict[str, str]) -> None:
            if best[0] == self.total:
                return
            if depth == len(order):
                best[0] = max(best[0], sum(holds(c, binding) for c in self.conditions))
                return
            var = order[depth]
            for value in candidates(var, binding):
                binding[var] = value
                if all(holds(c, binding) for c in self.constraints if var in c.variables() and ready(c, binding)):
                    search(depth + 1, binding)
                del binding[var]

        search(0, {})
        return max(best[0], 0)

    def rate(self, facts: Iterable[tuple[str, ...]]) -> float:
        """The goal-condition success rate in the state of ``facts`` (0 to 1)."""
        return self.satisfied(facts) / self.total

    def _order(self) -> list[str]:
        """Variables in the order to bind them: those a constraint pins down first."""
        order: list[str] = []
        remaining = list(self.variables)
        while remaining:

            def pinned(var: str) -> int:
                return sum(
                    1
                    for lit in self.constraints
                    if not lit.negated and lit.predicate != "=" and var in lit.args and (lit.variables() - {var}) <= set(order)
                )

            var = max(remaining, key=lambda v: (pinned(v), -remaining.index(v)))
            order.append(var)
            remaining.remove(var)
        return order


def facts_of(propositions: Iterable) -> list[tuple[str, ...]]:
    """TextWorld ``Proposition`` objects (``state["_facts"]``) as lower-case tuples."""
    out = []
    for fact in propositions:
        name = fact.name.lower()
        if name.startswith("new-axiom@"):
            continue
        out.append((name, *(arg.name.lower() for arg in fact.arguments)))
    return out
