"""EquityRecorder: samples the mark-to-market account equity on every bar."""

from pathlib import Path

import pandas as pd
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.identifiers import Venue

from nautilus_ai.catalog.atomic import write_parquet_atomic
from nautilus_ai.strategies.equity import account_equity


class EquityRecorderConfig(ActorConfig, frozen=True):
    """Configuration of an :class:`EquityRecorder`.

    Parameters
    ----------
    bar_types : tuple[str, ...]
        The bars whose arrival triggers a sample (one sample per distinct bar time).
    venues : tuple[str, ...]
        The venues whose account equities are summed.
    output_path : str
        The Parquet file (columns ``ts``, ``equity``) written atomically when the actor stops.

    """

    bar_types: tuple[str, ...]
    venues: tuple[str, ...]
    output_path: str


class EquityRecorder(Actor):
    """Record the summed equity of the configured venue accounts at each bar time.

    Bars of several instruments at one time give one sample, taken after the last of them (the
    latest value at a timestamp wins).
    """

    def __init__(self, config: EquityRecorderConfig) -> None:
        super().__init__(config)
        self._venues = [Venue(v) for v in config.venues]
        self._samples: dict[int, float] = {}

    def on_start(self) -> None:
        """Subscribe to the bars."""
        for bar_type in self.config.bar_types:
            self.subscribe_bars(BarType.from_str(bar_type))

    def on_bar(self, bar: Bar) -> None:
        """Take a sample of the equity."""
        self._samples[bar.ts_init] = sum(account_equity(self.portfolio, v) for v in self._venues)

    def on_stop(self) -> None:
        """Write the samples."""
        ts = pd.to_datetime(list(self._samples.keys()), utc=True, unit="ns")
        frame = pd.DataFrame({"ts": ts, "equity": list(self._samples.values())})
        write_parquet_atomic(frame, Path(self.config.output_path))
