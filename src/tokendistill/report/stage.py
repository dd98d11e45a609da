"""The report stage of an experiment run: the report on the run, written into the stage's folder.

It lives here, not with the other stage implementations in ``tokendistill.experiment.stages``, so that the
experiment package never imports the report (the report reads runs through the experiment's plan and
runner); ``tokendistill.commands.run`` puts the implementations together.
"""

from __future__ import annotations

from tokendistill.experiment.runner import StageContext
from tokendistill.report import write_report


def report_stage(ctx: StageContext) -> None:
    write_report([ctx.run_dir], ctx.dir)
