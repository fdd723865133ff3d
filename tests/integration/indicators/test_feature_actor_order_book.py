"""Book and trade features through the FeatureActor on real CME ES order-by-order data (Databento MBO).

The engine replays the ESH4 book deltas and trades of 2023-12-25 with one-minute bars aggregated from
the trades as the sampling clock; every published book imbalance and order-flow value equals a
standalone indicator fed the same deltas and trades up to the bar.
"""

import math

import pytest
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import BarType, OrderBookDelta, TradeTick
from nautilus_trader.model.enums import BookType
from nautilus_trader.test_kit.providers import TestInstrumentProvider

from nautilus_ai import test_kit
from nautilus_ai.indicators.book_imbalance import BookImbalance
from nautilus_ai.indicators.feature_spec import FeatureSpec
from nautilus_ai.indicators.order_flow import OrderFlowImbalance

pytestmark = pytest.mark.slow

SPEC = FeatureSpec(
    return_horizons=(1,),
    rsi_period=2,
    ema_periods=(2,),
    atr_period=2,
    volatility_window=2,
    volume_window=2,
    order_flow_window=20,
    book_levels=5,
)


@pytest.fixture(scope="module")
def es_book(tmp_path_factory):
    from nautilus_trader.adapters.databento.loaders import DatabentoDataLoader

    root = test_kit.shared_data_dir()
    if root is None:
        pytest.skip("the shared data folder (../shared/data) is not present")
    path = root / "orderbook" / "esh4-glbx-mdp3-20231225.mbo.dbn.zst"
    data = DatabentoDataLoader().from_dbn_file(
        path, price_precision=2, include_trades=True, as_legacy_cython=True
    )
    trades = [d for d in data if isinstance(d, TradeTick)]
    cutoff = trades[1_000].ts_init  # the first thousand trades of the session keep the test fast
    trades = trades[:1_001]
    deltas = [d for d in data if isinstance(d, OrderBookDelta) and d.ts_init <= cutoff]
    instrument = TestInstrumentProvider.es_future(2024, 3)
    bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-INTERNAL")
    frame = test_kit.replay_feature_actor(
        instrument, bar_type, [deltas, trades], SPEC, tmp_path_factory.mktemp("es") / "f.parquet"
    )
    return instrument, deltas, trades, frame


def test_book_and_flow_features_equal_standalone_indicators_up_to_each_bar(es_book):
    instrument, deltas, trades, frame = es_book
    book = OrderBook(instrument.id, BookType.L2_MBP)
    imbalance = BookImbalance(SPEC.book_levels)
    flow = OrderFlowImbalance(window=SPEC.order_flow_window)
    events = sorted(
        [(d.ts_init, 0, i, d) for i, d in enumerate(deltas)]
        + [(t.ts_init, 1, i, t) for i, t in enumerate(trades)],
        key=lambda e: e[:3],
    )
    position, compared = 0, 0
    for ts, row in zip(frame["ts_init"], frame.itertuples(), strict=True):
        while position < len(events) and events[position][0] <= ts:
            _, kind, _, event = events[position]
            if kind == 0:
                book.apply_delta(event)
                imbalance.update_book(book)
            else:
                flow.handle_trade_tick(event)
            position += 1
        for name, indicator in (("book_imbalance", imbalance), ("order_flow_imbalance", flow)):
            got = getattr(row, name)
            if indicator.initialized:
                assert got == pytest.approx(indicator.value, rel=1e-12, abs=1e-15), (name, ts)
                compared += 1
            else:
                assert math.isnan(got), (name, ts)
    assert compared > 20
    assert frame["book_imbalance"].notna().sum() > 10
