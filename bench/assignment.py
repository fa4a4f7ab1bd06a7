"""Benchmark of the automatic assignment: 10,000 applications × 500 evaluators, 3 reviews each,
planned by `portal.review.assignment.plan_assignments` on plain data (seeded, so every run plans
the same input). Run alone with `python -m bench.assignment`.
"""

from __future__ import annotations

import random
import statistics
import time

from portal.review.assignment import ApplicationNeed, EvaluatorOffer, plan_assignments

APPLICATIONS = 10_000
EVALUATORS = 500
PER_APPLICATION = 3
CAP = 80
AXES = ("axis-1", "axis-2", "axis-3", "axis-4")
RUNS = 3
SEED = 2026


def build(seed: int = SEED):
    """Return (applications, evaluators, conflicts): 70% Arabic applications; evaluators reading
    Arabic, French or both; one or two axes each; a few evaluators conflicted with a few dozen
    applications."""
    rng = random.Random(seed)
    applications = [
        ApplicationNeed(
            id=number,
            language="ar" if rng.random() < 0.7 else "fr",
            axes=frozenset(rng.sample(AXES, rng.randint(1, 2))),
        )
        for number in range(1, APPLICATIONS + 1)
    ]
    language_sets = (frozenset({"ar"}), frozenset({"fr"}), frozenset({"ar", "fr"}))
    evaluators = [
        EvaluatorOffer(
            id=100_000 + number,
            languages=rng.choices(language_sets, weights=(50, 20, 30))[0],
            expertise=frozenset(rng.sample(AXES, rng.randint(1, 2))),
        )
        for number in range(EVALUATORS)
    ]
    conflicts = {
        evaluator.id: set(rng.sample(range(1, APPLICATIONS + 1), rng.randint(1, 40)))
        for evaluator in evaluators
        if rng.random() < 0.1
    }
    return applications, evaluators, conflicts


def run() -> dict:
    """Time plan_assignments (median of a few runs) and describe the plan it makes."""
    applications, evaluators, conflicts = build()
    timings, plan = [], None
    for _ in range(RUNS):
        started = time.perf_counter()
        plan = plan_assignments(applications, evaluators, conflicts, PER_APPLICATION, CAP)
        timings.append(time.perf_counter() - started)
    by_language: dict[frozenset, list[int]] = {}
    for evaluator in evaluators:
        by_language.setdefault(evaluator.languages, []).append(plan.loads[evaluator.id])
    return {
        "assignment_s": round(statistics.median(timings), 3),
        "assignment_reviews": len(plan.pairs),
        "assignment_shortfalls": len(plan.shortfalls),
        "assignment_without_expert": len(plan.without_expert),
        "assignment_load_spread": plan.spread,
        "assignment_load_spread_per_language_set": max(
            max(loads) - min(loads) for loads in by_language.values()
        ),
    }


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:<42} {value}")
