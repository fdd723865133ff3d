"""The promotion gate: out-of-sample thresholds a candidate must pass to become champion.

:func:`check_promotion` is a pure function of the candidate's metrics, the current champion's
metrics and a :class:`PromotionGate`; :meth:`nautilus_ai.learning.registry.ModelRegistry.promote`
calls it inside the promotion's transaction. Metric names are those the registry holds: the
out-of-sample backtest metrics recorded after the walk-forward (``sharpe``, ``psr``, ``dsr``,
``max_drawdown``, ...) and the validation metrics given at registration (``test_auc``, ...); when
a name is in both, the out-of-sample value wins (see ``ModelRecord.evaluation_metrics``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PromotionGate(BaseModel):
    """Thresholds on out-of-sample metrics that gate a promotion to champion.

    A threshold left at ``None`` is not checked. A metric the gate checks but the candidate lacks
    (or holds as a non-finite number) fails the gate.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_test_auc: float | None = Field(default=None, ge=0.0, le=1.0)
    """Lowest accepted ``test_auc`` (ROC AUC of the held-out fold)."""
    min_sharpe: float | None = None
    """Lowest accepted out-of-sample ``sharpe`` (annualized)."""
    min_psr: float | None = Field(default=None, ge=0.0, le=1.0)
    """Lowest accepted probabilistic Sharpe ratio ``psr`` (probability that the true Sharpe > 0)."""
    min_dsr: float | None = Field(default=None, ge=0.0, le=1.0)
    """Lowest accepted deflated Sharpe ratio ``dsr``."""
    max_drawdown_floor: float | None = Field(default=None, le=0.0)
    """Deepest accepted ``max_drawdown`` (a negative fraction: -0.25 accepts a drawdown of 25 %)."""
    min_metrics: dict[str, float] = Field(default_factory=dict)
    """Further lower bounds, metric name to the lowest accepted value."""
    champion_metric: str | None = "sharpe"
    """Metric on which the candidate must beat the current champion; ``None`` skips the comparison."""
    champion_margin: float = Field(default=0.0, ge=0.0)
    """How much better than the champion's ``champion_metric`` the candidate must be."""
    higher_is_better: bool = True
    """Direction of ``champion_metric`` (False for losses such as ``test_brier``)."""

    def lower_bounds(self) -> dict[str, float]:
        """Return every configured lower bound, metric name to threshold."""
        bounds = {
            "test_auc": self.min_test_auc,
            "sharpe": self.min_sharpe,
            "psr": self.min_psr,
            "dsr": self.min_dsr,
            "max_drawdown": self.max_drawdown_floor,
        }
        out = {name: value for name, value in bounds.items() if value is not None}
        out.update(self.min_metrics)
        return out


@dataclasses.dataclass(frozen=True)
class GateResult:
    """The outcome of :func:`check_promotion`.

    Parameters
    ----------
    passed : bool
        True when every check passed.
    reasons : tuple[str, ...]
        Why the gate failed, one line per failed check (empty when it passed).
    checks : tuple[str, ...]
        Every check made, passed or failed, one line each (for logs and the CLI).

    """

    passed: bool
    reasons: tuple[str, ...]
    checks: tuple[str, ...]


def check_promotion(
    candidate: Mapping[str, Any], champion: Mapping[str, Any] | None, gate: PromotionGate
) -> GateResult:
    """Check a candidate's metrics against the gate's thresholds and the current champion.

    Parameters
    ----------
    candidate : Mapping[str, Any]
        The candidate's metrics, name to value.
    champion : Mapping[str, Any] or None
        The current champion's metrics; None when the name has no champion (the comparison is
        skipped). A champion lacking ``gate.champion_metric`` is not compared either (noted in
        ``checks``): a champion promoted before its metrics were recorded does not block others.
    gate : PromotionGate
        The thresholds.

    Returns
    -------
    GateResult
        Whether the candidate passes, and why not.

    """
    reasons: list[str] = []
    checks: list[str] = []
    for name, bound in gate.lower_bounds().items():
        value = _finite(candidate.get(name))
        if value is None:
            line = f"{name} is missing or not a finite number (need >= {bound:g})"
            reasons.append(line)
        elif value < bound:
            line = f"{name} = {value:.6g} is below the minimum {bound:g}"
            reasons.append(line)
        else:
            line = f"{name} = {value:.6g} >= {bound:g}"
        checks.append(line)

    metric = gate.champion_metric
    if metric is not None:
        line = _champion_check(candidate, champion, gate, metric, reasons)
        checks.append(line)
    return GateResult(passed=not reasons, reasons=tuple(reasons), checks=tuple(checks))


def _champion_check(
    candidate: Mapping[str, Any],
    champion: Mapping[str, Any] | None,
    gate: PromotionGate,
    metric: str,
    reasons: list[str],
) -> str:
    if champion is None:
        return f"no current champion: {metric} comparison skipped"
    theirs = _finite(champion.get(metric))
    if theirs is None:
        return f"the champion has no finite {metric}: comparison skipped"
    ours = _finite(candidate.get(metric))
    if ours is None:
        line = f"{metric} is missing or not a finite number (needed to compare with the champion)"
        reasons.append(line)
        return line
    if gate.higher_is_better:
        needed, passed, word = theirs + gate.champion_margin, ours >= theirs + gate.champion_margin, ">="
    else:
        needed, passed, word = theirs - gate.champion_margin, ours <= theirs - gate.champion_margin, "<="
    relation = (
        f"{metric} = {ours:.6g} vs champion {theirs:.6g} (margin {gate.champion_margin:g}, need {word} "
        f"{needed:.6g})"
    )
    if not passed:
        line = f"does not beat the champion: {relation}"
        reasons.append(line)
        return line
    return f"beats the champion: {relation}"


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
