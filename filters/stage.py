"""The filter stage: a recipe's ``filters:`` run, in order, on every candidate sample a source's
step produced. The first drop ends a sample (it becomes a dropped candidate with that filter's
name and reason); the values filters measure are written into the json of the samples they keep.
A document whose every sample is dropped is dropped for the commonest reason."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from vlpipe.filters.contract import SampleView, filter_spec
from vlpipe.recipe import FilterStep
from vlpipe.schema import DroppedCandidate, Outcome, Sample, commonest_drop


def apply_filters(outcome: Outcome, steps: Sequence[FilterStep]) -> Outcome:
    if not steps or not outcome.samples:
        return outcome
    kept: list[Sample] = []
    dropped = list(outcome.dropped)
    for sample in outcome.samples:
        view = SampleView(sample)
        for step in steps:
            spec = filter_spec(step.name)
            if not all(view.has(need) for need in spec.reads):
                continue
            verdict = spec.check(view, step.options)
            if isinstance(verdict, dict):
                view.meta.update(verdict)
            elif verdict is not None:
                dropped.append(DroppedCandidate(sample.key, verdict))
                break
        else:
            kept.append(view.packed())
    drop = None if kept else commonest_drop(dropped, "candidates")
    return dataclasses.replace(outcome, samples=tuple(kept), dropped=tuple(dropped), drop=drop)
