"""Each attribution method's options, declared once (``tokendistill.settings``).

The method takes them as one object (``IntegratedGradients(IntegratedGradientsOptions(n_steps=32))``);
``attribute(..., n_steps=32)``, the experiment config's ``attribution`` section and the ``rationales``
command's flags are made from these declarations, so they share names, defaults and bounds. This module
imports no torch: loading a config reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tokendistill.settings import PositiveInt, check_settings, declared_settings, setting

Baseline = Literal["zero", "pad"]


@dataclass(frozen=True)
class NoOptions:
    """The options of a method that takes none."""


@dataclass(frozen=True)
class IntegratedGradientsOptions:
    """Integrated gradients' path (see ``tokendistill.attribution.methods.IntegratedGradients``).

    The pad baseline is the default because the all-zero one is degenerate on T5-family teachers: their
    RMSNorm makes the path singular near zero, and completeness fails at any practical ``n_steps``.
    """

    n_steps: PositiveInt = setting(50, help="integrated gradients: points on the path (Gauss-Legendre nodes)")
    baseline: Baseline = setting(
        "pad",
        help="integrated gradients: the path's start at each source position, the pad token's embedding "
        "or zeros",
    )
    internal_batch_size: PositiveInt | None = setting(
        None,
        changes_result=False,
        help="integrated gradients: path points per forward pass; none: as many as a batch has examples "
        "(the memory of a saliency pass)",
    )

    def __post_init__(self) -> None:
        check_settings(self)


METHOD_OPTIONS: dict[str, type] = {
    "saliency": NoOptions,
    "saliency_per_token": NoOptions,
    "input_x_gradient": NoOptions,
    "integrated_gradients": IntegratedGradientsOptions,
}


def result_option_defaults(method: str) -> dict[str, object]:
    """The declared defaults of ``method``'s options that change its result (not those that change only
    speed or memory)."""
    items = declared_settings(METHOD_OPTIONS[method])
    return {item.name: item.default for item in items if item.setting.changes_result}
