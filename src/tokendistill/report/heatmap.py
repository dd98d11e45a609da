"""Token heatmaps: a test example's words shaded by the teacher's score, with its rationale marked.

Built from the run's heatmap sample (the teacher's rationales for the first test examples), the examples
themselves (for template words) and a teacher-token student's predictions on them.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokendistill.attribution.records import RationaleRecord
from tokendistill.attribution.words import WordScore
from tokendistill.data.example import Example
from tokendistill.experiment.plan import StudentVariant
from tokendistill.experiment.splits import ExperimentTask
from tokendistill.report.analysis import read_with_examples
from tokendistill.report.paired import read_predictions
from tokendistill.report.results import RunResults


@dataclass(frozen=True)
class Piece:
    """A run of source text: a word (with its score scaled to [0, 1]) or the text between words."""

    text: str
    shade: float | None = None  # None for the text between words
    rationale: bool = False
    template: bool = False  # part of the task's template (for text between words: inside the template)


@dataclass(frozen=True)
class StudentPrediction:
    student: str
    prediction: str
    correct: bool


@dataclass(frozen=True)
class Heatmap:
    example_id: str
    pieces: tuple[Piece, ...]
    gold: str
    teacher_target: str  # what the teacher's scores explain: its own prediction, or the gold target
    students: tuple[StudentPrediction, ...]  # each teacher-token student's prediction (first finished seed)


def student_predictions(run: RunResults) -> dict[str, dict[str, dict]]:
    """Student name -> predictions by id of its teacher-token student at the main (method, k), first seed."""
    attribution = run.config.attribution
    variant = StudentVariant("rationale", attribution.method, attribution.k)
    predictions = {}
    for model in run.config.students.models:
        by_seed = run.students.get((model.name, variant), {})
        if by_seed:
            predictions[model.name] = read_predictions(by_seed[min(by_seed)].predictions)
    return predictions


def _pieces(record: RationaleRecord, example: Example, chosen: list[WordScore]) -> tuple[Piece, ...]:
    chosen_starts = {word.start for word in chosen}
    top = max((word.score for word in record.words), default=0.0)
    templates = example.template_spans()

    def in_template(start: int, end: int) -> bool:
        return any(start < t_end and t_start < end for t_start, t_end in templates)

    pieces, position = [], 0
    for word in record.words:
        if word.start > position:
            pieces.append(
                Piece(example.source[position : word.start], template=in_template(position, word.start))
            )
        shade = word.score / top if top > 0 else 0.0
        rationale = word.start in chosen_starts
        pieces.append(Piece(word.text, shade, rationale, in_template(word.start, word.end)))
        position = word.end
    if position < len(example.source):
        pieces.append(Piece(example.source[position:], template=in_template(position, len(example.source))))
    return tuple(pieces)


def heatmaps(run: RunResults) -> list[Heatmap]:
    """Heatmaps of the run's sample (empty when it has none), with the teacher-token students' predictions."""
    if run.sample_file is None:
        return []
    examples = ExperimentTask(run.config.task).load("test")
    predictions = student_predictions(run)
    maps = []
    for record, example, chosen in read_with_examples(run.sample_file, examples):
        students = tuple(
            StudentPrediction(name, rows[example.id]["prediction"], bool(rows[example.id]["correct"]))
            for name, rows in predictions.items()
            if example.id in rows
        )
        maps.append(
            Heatmap(example.id, _pieces(record, example, chosen), example.target, record.target, students)
        )
    return maps
