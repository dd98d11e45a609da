"""Where each student mode's explain targets come from, as a map from example id to rationale text.

- ``rationale``: the teacher-token rationale file written by ``tokendistill rationales``. It must cover
  every training example: a gap means the rationale stage did not finish, which is an error. Each record
  must have been made for its example's source and gold target (its fingerprint), and the file must still
  have the bytes its ``.done.json`` records, if it has one: a file for other texts under the same ids, or
  one edited by hand, would otherwise train silently (issue 11).
- ``dss``: the PaLM chain-of-thought rationales of Distilling Step-by-Step. PaLM's output cannot be
  parsed for a few examples (DSS data: 122 of 16,946 for ANLI R1); those train on the predict task only,
  and the count is reported.
- ``random``: k words drawn from the example's own words (template words excluded, as for the teacher's
  top-k). The draw for an example is seeded by (seed, example id), so it does not depend on the order or
  the number of examples.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from tokendistill.attribution.rationale import random_rationale, rationale_text
from tokendistill.attribution.records import check_examples
from tokendistill.attribution.sharding import check_unchanged
from tokendistill.data.example import Example
from tokendistill.data.palm import load_palm_rationales


def file_rationales(path: str | Path, examples: Sequence[Example]) -> dict[str, str]:
    """The rationale file's texts for ``examples``.

    ``DataError`` when the file changed since the rationale stage wrote it, when a training example has no
    record, or when records were made for other texts (see ``check_examples``).
    """
    check_unchanged(Path(path))
    return check_examples(path, examples)


def palm_rationales(task_name: str, data_dir: str | Path | None, split: str = "train") -> dict[str, str]:
    """PaLM rationales of the split a student trains on, leaving out the ones that could not be parsed."""
    if data_dir is None:
        raise ValueError("'dss' mode reads DSS's PaLM files from the local data folder; give data_dir")
    palm = load_palm_rationales(task_name, split, Path(data_dir))
    return {id_: entry.rationale for id_, entry in palm.items() if entry.rationale}


def random_rationales(examples: Sequence[Example], k: int, seed: int) -> dict[str, str]:
    """``k`` random own words per example, in input order."""
    return {
        example.id: rationale_text(
            random_rationale(
                example.source,
                k,
                random.Random(f"{seed}/{example.id}"),
                excluded_spans=example.template_spans(),
            )
        )
        for example in examples
    }
