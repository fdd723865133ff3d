"""``/signals``: the latest model signal per instrument, the history, and the explanation of a signal."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from nautilus_ai.api.deps import require, services
from nautilus_ai.api.problems import ProblemError, problem_responses
from nautilus_ai.api.state import parse_attributions

router = APIRouter(
    prefix="/signals",
    tags=["signals"],
    dependencies=[Depends(require("read"))],
    responses=problem_responses(401, 403, 422, 429, 503),
)

InstrumentQuery = Annotated[str, Query(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9/._\-^]+$")]


class SignalOut(BaseModel):
    """A model signal as mirrored by the node's RedisPublisherActor."""

    instrument_id: str
    direction: int
    probability: float
    confidence: float
    horizon_bars: int
    model_version: str
    regime: str
    top_attributions: str
    ts_event: int
    ts_init: int


class RegimeOut(BaseModel):
    """A regime label."""

    instrument_id: str
    regime: str
    probabilities: dict[str, float]
    model_version: str
    ts_event: int
    ts_init: int


class Attribution(BaseModel):
    """One feature's contribution to a decision."""

    feature: str
    attribution: float


class Explanation(BaseModel):
    """Why the latest signal of an instrument is what it is."""

    signal: SignalOut
    attributions: list[Attribution]
    """The decision's largest feature attributions, largest magnitude first."""
    features: dict[str, float | None] | None
    """The latest feature values from the online feature store (None when absent)."""
    regime: RegimeOut | None
    """The latest regime label (None when the node publishes none)."""


def _latest(request: Request, instrument_id: str) -> dict[str, Any]:
    signal = services(request).reader.latest_signal(instrument_id)
    if signal is None:
        raise ProblemError(404, f"no signal for instrument {instrument_id!r}", "not-found")
    return signal


@router.get("/latest", response_model=list[SignalOut], responses=problem_responses(404))
def latest_signals(request: Request, instrument_id: InstrumentQuery | None = None) -> list[dict[str, Any]]:
    """Return the latest signal of one instrument, or of every instrument when none is given."""
    reader = services(request).reader
    if instrument_id is not None:
        return [_latest(request, instrument_id)]
    return [s for i in reader.instruments() if (s := reader.latest_signal(i)) is not None]


@router.get("/history", response_model=list[SignalOut])
def signal_history(
    request: Request, instrument_id: InstrumentQuery, limit: Annotated[int, Query(ge=1, le=100_000)] = 100
) -> list[dict[str, Any]]:
    """Return the last ``limit`` signals of an instrument, oldest first."""
    svc = services(request)
    if limit > svc.settings.history_limit:
        raise ProblemError(
            422, f"limit must be <= {svc.settings.history_limit}, got {limit}", "validation-error"
        )
    return svc.reader.signal_history(instrument_id, limit)


@router.get("/explanation", response_model=Explanation, responses=problem_responses(404))
def explain_signal(request: Request, instrument_id: InstrumentQuery) -> Explanation:
    """Explain the latest signal of an instrument: its attributions, the features and the regime."""
    reader = services(request).reader
    signal = _latest(request, instrument_id)
    pairs = sorted(parse_attributions(signal["top_attributions"]), key=lambda p: -abs(p[1]))
    regime = reader.latest_regime(instrument_id)
    return Explanation(
        signal=SignalOut(**signal),
        attributions=[Attribution(feature=n, attribution=v) for n, v in pairs],
        features=reader.latest_features(instrument_id),
        regime=RegimeOut(**regime) if regime else None,
    )
