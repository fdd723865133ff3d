"""The ExperienceActor: records every decision with its outcome and watches for drift.

For one instrument it subscribes to the FeatureVectors and ModelSignals of
``topic_data_type(..., instrument_id)`` and to the instrument's bars. Each ModelSignal is paired with
the FeatureVector of the same bar (same ``ts_event``) and appended to an
:class:`~nautilus_ai.learning.experience.ExperienceBuffer` with the close of its bar. After
``horizon_bars`` further bars the decision is resolved with an
:class:`~nautilus_ai.learning.experience.Outcome`: the forward return ``close[t + h] / close[t] - 1``
(the walk-forward's label, :func:`nautilus_ai.learning.labels.forward_returns`), the change of the
portfolio's total P&L of the instrument over the horizon and the number of fills of the instrument
in it (``events.fills.<instrument_id>``).

Every ``drift_every_bars`` bars a :class:`~nautilus_ai.learning.drift.DriftMonitor` compares the
features of the last ``drift_window`` decisions (and their hit rate and calibration, when reference
values are configured) with the reference feature distribution of the training window
(``reference_path``, a FeatureRecorder / walk-forward ``features.parquet``). When it finds drift the
actor publishes the :class:`~nautilus_ai.learning.drift.DriftReport` on
:data:`~nautilus_ai.learning.drift.DRIFT_TOPIC` and then a :class:`~nautilus_ai.live.control.RetrainTrigger`
(the control path's message; its ``reason`` lists the drifted features and metrics, its
``command_id`` is ``drift-<actor id>-<ts>``) on ``nautilus_ai.learning.retrain``.

The buffer is written to ``buffer_path`` (Parquet, atomically) on stop and every ``save_every_bars``
bars, and reloaded on start: after a restart the experiences recorded before it are kept, signals
of bars already in the buffer (a replay of history) are skipped, and decisions still unresolved are
resolved from the bars after their decision (so the restarted feed must begin at or before the oldest
of them; their P&L is then unknown, NaN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.core.data import Data
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.identifiers import InstrumentId
from pydantic import ValidationError

from nautilus_ai.catalog.types import FeatureVector, ModelSignal, RegimeLabel, topic_data_type
from nautilus_ai.errors import ConfigError, DataError
from nautilus_ai.learning.drift import DRIFT_TOPIC, DriftConfig, DriftMonitor, DriftReport
from nautilus_ai.learning.experience import Experience, ExperienceBuffer, Outcome
from nautilus_ai.live.control import MODEL_SWAP_TOPIC, RETRAIN_TOPIC, ModelSwap, RetrainTrigger

_RECENT_BARS = 16


class ExperienceActorConfig(ActorConfig, frozen=True):
    """Configuration of an :class:`ExperienceActor`.

    Parameters
    ----------
    instrument_id : InstrumentId
        The instrument whose decisions are recorded.
    bar_type : BarType
        The bars that time the decisions and give the closes of the outcomes.
    buffer_path : str
        Parquet file of the experience buffer (reloaded on start when it exists).
    capacity : int, default 10_000
        Experiences kept (the oldest are evicted first).
    horizon_bars : int, default 1
        Bars after the decision bar at which the outcome is taken (the model's label horizon).
    save_every_bars : int, default 0
        Also write the buffer every this many bars (0: only on stop).
    reference_path : str, optional
        FeatureRecorder Parquet file holding the reference (training-window) features; no drift
        monitoring without it.
    reference_start, reference_end : str, optional
        ISO timestamps selecting the reference rows (``start <= ts_event < end``).
    drift_every_bars : int, default 20
        Run the drift check every this many bars.
    drift_window : int, default 60
        Number of most recent decisions compared with the reference.
    drift : dict, optional
        :class:`~nautilus_ai.learning.drift.DriftConfig` fields (thresholds).
    reference_hit_rate : float, optional
        Reference hit rate (enables the hit-rate decay check).
    reference_brier, reference_ece : float, optional
        Reference calibration (both enable the calibration decay check).
    cooldown_bars : int, default 0
        Bars after a trigger during which no new trigger is published (0: ``drift_window``).
    regime_names : list[str], optional
        The served model's regimes: the actor then also keeps each decision's regime probabilities
        (from the instrument's RegimeLabels), in this order, for updates of models with regimes.
    rebase_rows : int, default 0
        On a ModelSwap, make the features of the last ``rebase_rows`` experiences the new drift
        reference (the rows an update learned from); 0 keeps the training-window reference.

    """

    instrument_id: InstrumentId
    bar_type: BarType
    buffer_path: str
    capacity: int = 10_000
    horizon_bars: int = 1
    save_every_bars: int = 0
    reference_path: str | None = None
    reference_start: str | None = None
    reference_end: str | None = None
    drift_every_bars: int = 20
    drift_window: int = 60
    drift: dict[str, float] | None = None
    reference_hit_rate: float | None = None
    reference_brier: float | None = None
    reference_ece: float | None = None
    cooldown_bars: int = 0
    rebase_rows: int = 0
    regime_names: list[str] | None = None


def _positive_int(config: ExperienceActorConfig, name: str, minimum: int) -> int:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"ExperienceActorConfig.{name}={value!r} is invalid: set an integer >= {minimum}")
    return value


def _timestamp_ns(config: ExperienceActorConfig, name: str) -> int | None:
    value = getattr(config, name)
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except ValueError as exc:
        raise ConfigError(f"ExperienceActorConfig.{name}={value!r} is not an ISO timestamp") from exc
    return int((ts.tz_localize("UTC") if ts.tzinfo is None else ts).value)


@dataclass
class _Pending:
    """An unresolved decision: its bar, entry close, bars seen since, and portfolio state then."""

    ts_event: int
    entry_close: float
    bars_seen: int
    pnl: float
    fills: int


class ExperienceActor(Actor):
    """Record each decision's FeatureVector and ModelSignal, resolve its outcome, and detect drift.

    Parameters
    ----------
    config : ExperienceActorConfig
        The configuration.

    Raises
    ------
    ConfigError
        If a count is invalid, a reference timestamp does not parse or the drift thresholds are wrong.

    Attributes
    ----------
    buffer : ExperienceBuffer or None
        The experiences (None until the first vector, when no saved buffer was loaded).
    reports : list[DriftReport]
        Every drift check's report.
    triggers : list[RetrainTrigger]
        The retrain triggers published.
    trigger_reports : list[DriftReport]
        The report behind each trigger (same order).

    """

    def __init__(self, config: ExperienceActorConfig) -> None:
        super().__init__(config)
        self._capacity = _positive_int(config, "capacity", 1)
        self._horizon = _positive_int(config, "horizon_bars", 1)
        self._save_every = _positive_int(config, "save_every_bars", 0)
        self._drift_every = _positive_int(config, "drift_every_bars", 1)
        self._drift_window = _positive_int(config, "drift_window", 2)
        self._cooldown = _positive_int(config, "cooldown_bars", 0) or self._drift_window
        self._rebase_rows = _positive_int(config, "rebase_rows", 0)
        self._reference_start = _timestamp_ns(config, "reference_start")
        self._reference_end = _timestamp_ns(config, "reference_end")
        try:
            self._drift_config = DriftConfig.model_validate(config.drift or {})
        except ValidationError as exc:
            raise ConfigError(f"ExperienceActorConfig.drift is invalid: {exc}") from exc
        self._instrument_id = config.instrument_id
        self._feature_type = topic_data_type(FeatureVector, config.instrument_id)
        self._signal_type = topic_data_type(ModelSignal, config.instrument_id)
        self._regime_type = topic_data_type(RegimeLabel, config.instrument_id)
        self._regime_names = tuple(config.regime_names or ())
        self._fills_topic = f"events.fills.{config.instrument_id}"
        self.buffer: ExperienceBuffer | None = None
        self.monitor: DriftMonitor | None = None
        self.reports: list[DriftReport] = []
        self.triggers: list[RetrainTrigger] = []
        self.trigger_reports: list[DriftReport] = []
        self.unpaired_signals = 0
        self.replayed_signals = 0
        self._reset_state()

    def _reset_state(self) -> None:
        self._vectors: dict[int, FeatureVector] = {}
        self._signals: dict[int, ModelSignal] = {}
        self._awaiting_bar: dict[int, tuple[FeatureVector, ModelSignal]] = {}
        self._closes: dict[int, float] = {}
        self._regimes: dict[int, np.ndarray] = {}
        self._pending: dict[int, _Pending] = {}
        self._n_bars = 0
        self._n_fills = 0
        self._last_trigger_bar: int | None = None
        self._last_recorded: int | None = None

    def on_start(self) -> None:
        """Load the saved buffer and the drift reference, and subscribe to vectors, signals, bars and fills.

        Raises
        ------
        DataError
            If the saved buffer or the reference file cannot be read.

        """
        path = Path(self.config.buffer_path)
        if path.is_file():
            self.buffer = ExperienceBuffer.load(path, capacity=self._capacity)
            if self.buffer.regime_names != self._regime_names:
                raise ConfigError(
                    f"experience buffer {path} keeps regimes {list(self.buffer.regime_names)} but the "
                    f"actor is configured with {list(self._regime_names)}: use a new buffer_path"
                )
            for key in self.buffer.pending():
                e = self.buffer.get(key)
                if math.isfinite(e.entry_close):
                    self._pending[key] = _Pending(e.ts_event, e.entry_close, 0, math.nan, -1)
            self._last_recorded = max((e.ts_event for e in self.buffer), default=None)
        if self.config.reference_path is not None:
            self.monitor = DriftMonitor.from_parquet(
                self.config.reference_path,
                self._drift_config,
                instrument_id=str(self._instrument_id),
                start_ns=self._reference_start,
                end_ns=self._reference_end,
                reference_hit_rate=self.config.reference_hit_rate,
                reference_brier=self.config.reference_brier,
                reference_ece=self.config.reference_ece,
            )
        self.subscribe_data(self._feature_type, instrument_id=self._instrument_id)
        self.subscribe_data(self._signal_type, instrument_id=self._instrument_id)
        if self._regime_names:
            self.subscribe_data(self._regime_type, instrument_id=self._instrument_id)
        self.subscribe_bars(self.config.bar_type)
        self.msgbus.subscribe(topic=self._fills_topic, handler=self._on_fill)
        # before any updater (lower priority) reads the buffer for this trigger
        self.msgbus.subscribe(topic=RETRAIN_TOPIC, handler=self._on_retrain, priority=10)
        self.msgbus.subscribe(topic=MODEL_SWAP_TOPIC, handler=self._on_swap)

    def on_stop(self) -> None:
        """Unsubscribe and write the buffer."""
        self.unsubscribe_data(self._feature_type, instrument_id=self._instrument_id)
        self.unsubscribe_data(self._signal_type, instrument_id=self._instrument_id)
        if self._regime_names:
            self.unsubscribe_data(self._regime_type, instrument_id=self._instrument_id)
        self.unsubscribe_bars(self.config.bar_type)
        self.msgbus.unsubscribe(topic=self._fills_topic, handler=self._on_fill)
        self.msgbus.unsubscribe(topic=RETRAIN_TOPIC, handler=self._on_retrain)
        self.msgbus.unsubscribe(topic=MODEL_SWAP_TOPIC, handler=self._on_swap)
        self.save()

    def _on_retrain(self, message: object) -> None:
        """Write the buffer so that an update started by this trigger learns from every experience."""
        if isinstance(message, RetrainTrigger):
            self.save()

    def _on_swap(self, message: object) -> None:
        """Rebase the drift reference on the newest experiences after a model swap (``rebase_rows``)."""
        if not isinstance(message, ModelSwap) or not self._rebase_rows:
            return
        if self.monitor is None or self.buffer is None or len(self.buffer) < self._drift_config.min_samples:
            return
        self.monitor = DriftMonitor(
            self.buffer.feature_matrix(last=self._rebase_rows),
            self.monitor.feature_names,
            self._drift_config,
        )
        self._last_trigger_bar = self._n_bars
        self.log.info(f"drift reference rebased on the last {self._rebase_rows} experiences after {message}")

    def on_reset(self) -> None:
        """Forget the in-memory state (the saved buffer is reloaded on the next start)."""
        self.buffer = None
        self.monitor = None
        self.reports = []
        self.triggers = []
        self.trigger_reports = []
        self.unpaired_signals = 0
        self.replayed_signals = 0
        self._reset_state()

    def save(self) -> Path | None:
        """Write the buffer to ``buffer_path`` atomically (nothing before the first experience)."""
        if self.buffer is None:
            return None
        return self.buffer.save(self.config.buffer_path)

    def _on_fill(self, event: object) -> None:
        self._n_fills += 1

    def _pnl(self) -> float:
        money = self.portfolio.total_pnl(self._instrument_id)
        return 0.0 if money is None else float(money.as_double())

    def on_data(self, data: Data) -> None:
        """Pair each ModelSignal with its bar's FeatureVector, in whichever order the bus delivers them."""
        if isinstance(data, RegimeLabel) and data.instrument_id == self._instrument_id:
            probabilities = data.probabilities or {}
            self._regimes[data.ts_event] = np.array(
                [float(probabilities.get(r, np.nan)) for r in self._regime_names]
            )
            for ts in sorted(self._regimes)[:-_RECENT_BARS]:
                del self._regimes[ts]
            return
        if isinstance(data, FeatureVector) and data.instrument_id == self._instrument_id:
            self._vectors[data.ts_event] = data
            for ts in [t for t in self._vectors if t < data.ts_event]:
                del self._vectors[ts]
            stale = [t for t in self._signals if t < data.ts_event]
            for ts in stale:
                del self._signals[ts]
            self.unpaired_signals += len(stale)
            signal = self._signals.pop(data.ts_event, None)
            if signal is not None:
                self._pair(data, signal)
            return
        if not isinstance(data, ModelSignal) or data.instrument_id != self._instrument_id:
            return
        vector = self._vectors.get(data.ts_event)
        if vector is None:  # a SignalActor subscribed before us sees the vector first
            self._signals[data.ts_event] = data
        else:
            self._pair(vector, data)

    def _pair(self, vector: FeatureVector, signal: ModelSignal) -> None:
        close = self._closes.get(signal.ts_event)
        if close is None:  # the bar's own handler has not run yet: record at the bar
            self._awaiting_bar[signal.ts_event] = (vector, signal)
        else:
            self._record(vector, signal, close)

    def _record(self, vector: FeatureVector, signal: ModelSignal, close: float) -> None:
        if self._last_recorded is not None and signal.ts_event <= self._last_recorded:
            self.replayed_signals += 1  # already in the reloaded buffer (a restart replays history)
            return
        names = vector.feature_names()
        if self.buffer is None:
            self.buffer = ExperienceBuffer(self._capacity, names, self._regime_names)
        elif list(self.buffer.feature_names) != names:
            raise DataError(
                f"FeatureVector features {names} differ from the experience buffer's "
                f"{list(self.buffer.feature_names)}: use a new buffer_path for a new feature set",
                file=self.config.buffer_path,
            )
        if self.monitor is not None and list(self.monitor.feature_names) != names:
            raise ConfigError(
                f"reference {self.config.reference_path} has features {list(self.monitor.feature_names)} "
                f"but the live vectors have {names}: point reference_path at the model's training features"
            )
        key = self.buffer.append(
            Experience(
                ts_event=signal.ts_event,
                instrument_id=str(self._instrument_id),
                features=vector.as_array(),
                direction=int(signal.direction),
                probability=float(signal.probability),
                confidence=float(signal.confidence),
                horizon_bars=self._horizon,
                model_version=signal.model_version,
                entry_close=close,
                regime=self._regimes.get(signal.ts_event) if self._regime_names else None,
            )
        )
        self._pending[key] = _Pending(signal.ts_event, close, 0, self._pnl(), self._n_fills)

    def on_bar(self, bar: Bar) -> None:
        """Record decisions of this bar, resolve decisions whose horizon ends here, run the drift check."""
        if bar.bar_type != self.config.bar_type:
            return
        close = bar.close.as_double()
        self._closes[bar.ts_event] = close
        for ts in sorted(self._closes)[:-_RECENT_BARS]:
            del self._closes[ts]
        awaiting = self._awaiting_bar.pop(bar.ts_event, None)
        for ts in [t for t in self._awaiting_bar if t < bar.ts_event]:
            del self._awaiting_bar[ts]
        self._n_bars += 1
        self._resolve(bar, close)
        if awaiting is not None:
            self._record(*awaiting, close)
        if self.monitor is not None and self._n_bars % self._drift_every == 0:
            self.check_drift()
        if self._save_every and self._n_bars % self._save_every == 0:
            self.save()

    def _resolve(self, bar: Bar, close: float) -> None:
        if self.buffer is None:
            return
        done = []
        for key, p in self._pending.items():
            if bar.ts_event <= p.ts_event:
                continue
            p.bars_seen += 1
            if p.bars_seen < self._horizon:
                continue
            pnl = self._pnl() - p.pnl if math.isfinite(p.pnl) else math.nan
            fills = self._n_fills - p.fills if p.fills >= 0 else 0
            self.buffer.resolve(key, Outcome(close / p.entry_close - 1.0, pnl, fills, bar.ts_event))
            done.append(key)
        for key in done:
            del self._pending[key]

    def check_drift(self) -> DriftReport | None:
        """Compare the last ``drift_window`` decisions with the reference; publish a trigger on drift.

        Returns
        -------
        DriftReport or None
            The report (None without a monitor or before the first experience).

        """
        if self.monitor is None or self.buffer is None:
            return None
        window = [self.buffer.get(k) for k in self.buffer.keys()[-self._drift_window :]]
        resolved = [e for e in window if e.resolved]
        hits = [bool(e.hit) for e in resolved if e.hit is not None]
        report = self.monitor.check(
            np.vstack([e.features for e in window]),
            hits=hits,
            outcomes=[float(e.label or 0) for e in resolved],
            probabilities=[e.probability for e in resolved],
        )
        self.reports.append(report)
        cooling = (
            self._last_trigger_bar is not None and self._n_bars - self._last_trigger_bar < self._cooldown
        )
        if report.drifted and not cooling:
            now = self.clock.timestamp_ns()
            latest = window[-1].model_version
            trigger = RetrainTrigger(
                reason="drift: " + "; ".join(report.reasons),
                model_name=latest.rsplit("-", 1)[0] if "-" in latest else (latest or None),
                actor=str(self.id),
                command_id=f"drift-{self.id}-{now}",
                ts_event=now,
            )
            self._last_trigger_bar = self._n_bars
            self.triggers.append(trigger)
            self.trigger_reports.append(report)
            self.msgbus.publish(topic=DRIFT_TOPIC, msg=report)
            self.msgbus.publish(topic=RETRAIN_TOPIC, msg=trigger)
            self.log.warning(f"retrain trigger for {self._instrument_id}: {trigger.reason}")
        return report
