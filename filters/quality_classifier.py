"""A fastText quality classifier, as GPT-3 and NeMo Curator filter web text: a linear model over
word n-grams trained to tell reference-quality text (``--positive``: e.g. Wikipedia, books, a
curated build) from the corpus at large (``--negative``), applied with a threshold on the
probability of the positive label. ``vlpipe quality train`` makes one; the filter records
``quality_score`` and drops ``low_quality`` below ``threshold``.

Texts are prepared the same way for training and scoring (``prepared``): lower case, one line,
Chinese and Japanese split into characters so that word n-grams mean something there too.
Training runs Debian's ``fasttext`` command (package ``fasttext``) with one thread and a fixed
seed, so the same inputs give the same model.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import Field

from vlpipe.errors import ConfigError
from vlpipe.filters.contract import SampleView, Verdict
from vlpipe.filters.lang import clean
from vlpipe.filters.words import words
from vlpipe.recipe import StrictModel
from vlpipe.schema import Drop

NAME = "quality_classifier"
READS = ("text",)
POSITIVE, NEGATIVE = "__label__hq", "__label__lq"


class Options(StrictModel):
    model_path: str = Field(description="a model made by `vlpipe quality train`")
    threshold: float = Field(0.5, ge=0, le=1, description="P(reference quality) under which")


def check(sample: SampleView, options: Options) -> Verdict:
    score = quality_score(load_model(options.model_path), sample.text or "")
    if score < options.threshold:
        return Drop(NAME, "low_quality", f"score {score:.3f} < {options.threshold}")
    return {"quality_score": round(score, 4)}


def prepared(text: str) -> str:
    return " ".join(words(clean(text).lower()))


def quality_score(model: Any, text: str) -> float:
    labels, probabilities = model.predict(prepared(text), k=-1)
    return float(dict(zip(labels, probabilities, strict=True)).get(POSITIVE, 0.0))


@cache
def load_model(path: str) -> Any:
    import fasttext

    if not Path(path).is_file():
        raise ConfigError(f"quality classifier model not found: {path}")
    return fasttext.load_model(path)


@dataclass(frozen=True)
class TrainingReport:
    model: Path
    positives: int
    negatives: int
    held_out: int
    accuracy: float  # on the held-out tenth, at a 0.5 threshold


def train(
    positives: Iterable[str],
    negatives: Iterable[str],
    output: Path,
    *,
    epochs: int = 10,
    dim: int = 64,
    word_ngrams: int = 2,
    seed: int = 0,
) -> TrainingReport:
    """Train on two sets of texts; a tenth of each (chosen by ``seed``) is held out to report
    accuracy."""
    binary = shutil.which("fasttext")
    if binary is None:
        raise ConfigError("training needs the fasttext command (Debian package: fasttext)")
    rows = [f"{POSITIVE} {prepared(t)}" for t in positives]
    count_positive = len(rows)
    rows += [f"{NEGATIVE} {prepared(t)}" for t in negatives]
    if count_positive == 0 or count_positive == len(rows):
        raise ConfigError("training needs both positive and negative texts")
    random.Random(seed).shuffle(rows)
    held = rows[: max(1, len(rows) // 10)]
    with tempfile.TemporaryDirectory(prefix="vlpipe-quality-") as tmp:
        data = Path(tmp, "train.txt")
        data.write_text("\n".join(rows[len(held) :]) + "\n", encoding="utf-8")
        argv = [binary, "supervised", "-input", str(data), "-output", str(Path(tmp, "model"))]
        argv += ["-epoch", str(epochs), "-dim", str(dim), "-wordNgrams", str(word_ngrams)]
        argv += ["-thread", "1", "-seed", str(seed), "-verbose", "0"]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ConfigError(f"fasttext failed: {done.stderr.strip()[-500:]}")
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(Path(tmp, "model.bin"), output)
    load_model.cache_clear()
    model = load_model(str(output))
    right = sum(
        (quality_score(model, row.split(" ", 1)[1]) >= 0.5) == row.startswith(POSITIVE)
        for row in held
    )
    return TrainingReport(
        output, count_positive, len(rows) - count_positive, len(held), right / len(held)
    )
