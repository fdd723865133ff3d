"""Implementation shortfall and price advantage of parent orders against the arrival mid (pure).

A parent order of quantity ``Q`` on ``side`` arrives when the mid is ``m0``; its children fill ``q_i`` at
``p_i`` (filled ``F = sum q_i``, average price ``p_bar``), and the mid at the end of its horizon is
``m1``. With ``s = +1`` for a buy and ``-1`` for a sell, in basis points of ``m0``:

* **implementation shortfall** (Perold): the cost of the filled part plus the opportunity cost of the
  part left unfilled, marked at ``m1``::

      IS = s * (sum q_i (p_i - m0) + (Q - F) (m1 - m0)) / (Q m0) * 1e4

  positive is a cost; with every parent filled it is the plain ``s (p_bar - m0) / m0 * 1e4``;
* **price advantage**: the filled part only, positive is better than the arrival mid::

      PA = s * (m0 - p_bar) / m0 * 1e4

* **fill rate**: ``F / Q`` (per group: filled quantity over parent quantity).

:func:`summarize` aggregates :class:`ParentOutcome` records per policy (and optionally per size bucket
and side) into :class:`SummaryRow` s (mean, median, standard error of the mean, fill rate, children per
parent); :func:`paired_difference` compares two policies on the same parents; :func:`kind_mix` counts
the order kinds a selector chose. Everything here is arithmetic on plain records: the engine run that
produces them is :mod:`nautilus_ai.execution.shortfall_runner`.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from nautilus_ai.errors import DataError
from nautilus_ai.execution.liquidity import SIDES

BASIS_POINTS = 1e4


@dataclass(frozen=True)
class Fill:
    """One fill of a child order.

    Attributes
    ----------
    ts_ns : int
        Fill time, UNIX nanoseconds.
    quantity : float
        Filled size (> 0).
    price : float
        Fill price (> 0).

    """

    ts_ns: int
    quantity: float
    price: float


@dataclass(frozen=True)
class ParentOutcome:
    """What one policy did with one synthetic parent order.

    Attributes
    ----------
    policy : str
        The policy name (``market``, ``twap``, ``selector``, ...).
    parent : int
        Index of the parent in its set (the same parent across policies).
    side : str
        ``"BUY"`` or ``"SELL"``.
    quantity : float
        Parent quantity (> 0).
    arrival_ns : int
        Submission time, UNIX nanoseconds.
    arrival_mid : float
        Mid price when the parent was submitted (> 0).
    fills : tuple of Fill
        Every child fill.
    children : int
        Orders sent to the venue for this parent.
    end_mid : float
        Mid at the end of the parent's horizon (marks the unfilled part; NaN when unknown).
    kind : str
        The order kind used (the selector's choice; the policy's kind otherwise).
    status : str
        ``filled``, ``partial`` or ``unfilled`` (set by the runner from the fills), or a failure status.

    Raises
    ------
    DataError
        If the side, quantity, arrival mid or a fill is invalid (the field is named).

    """

    policy: str
    parent: int
    side: str
    quantity: float
    arrival_ns: int
    arrival_mid: float
    fills: tuple[Fill, ...] = ()
    children: int = 0
    end_mid: float = math.nan
    kind: str = ""
    status: str = ""
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise DataError(f"must be 'BUY' or 'SELL', was {self.side!r}", field="side")
        if not (math.isfinite(self.quantity) and self.quantity > 0.0):
            raise DataError(f"must be positive and finite, was {self.quantity}", field="quantity")
        if not (math.isfinite(self.arrival_mid) and self.arrival_mid > 0.0):
            raise DataError(f"must be positive and finite, was {self.arrival_mid}", field="arrival_mid")
        for fill in self.fills:
            if not (fill.quantity > 0.0 and fill.price > 0.0 and math.isfinite(fill.price)):
                raise DataError(f"need a positive quantity and price, was {fill}", field="fills")
        if self.filled_qty > self.quantity * (1.0 + 1e-9):
            raise DataError(
                f"fills of {self.filled_qty} exceed the parent quantity {self.quantity}", field="fills"
            )

    @property
    def sign(self) -> float:
        """Return +1 for a buy, -1 for a sell."""
        return 1.0 if self.side == "BUY" else -1.0

    @property
    def filled_qty(self) -> float:
        """Return the filled quantity."""
        return float(sum(fill.quantity for fill in self.fills))

    @property
    def fill_rate(self) -> float:
        """Return the filled share of the parent, in [0, 1]."""
        return min(1.0, self.filled_qty / self.quantity)

    @property
    def avg_px(self) -> float:
        """Return the size-weighted average fill price (NaN without fills)."""
        filled = self.filled_qty
        if filled <= 0.0:
            return math.nan
        return float(sum(fill.quantity * fill.price for fill in self.fills) / filled)

    @property
    def shortfall_bps(self) -> float:
        """Return the implementation shortfall in bps of the arrival mid (see the module docstring)."""
        return implementation_shortfall_bps(
            self.side, self.quantity, self.arrival_mid, self.fills, self.end_mid
        )

    @property
    def price_advantage_bps(self) -> float:
        """Return the price advantage of the filled part in bps (NaN without fills)."""
        return price_advantage_bps(self.side, self.avg_px, self.arrival_mid)


def implementation_shortfall_bps(
    side: str,
    quantity: float,
    arrival_mid: float,
    fills: Sequence[Fill],
    end_mid: float = math.nan,
) -> float:
    """Return the implementation shortfall of a parent in basis points of the arrival mid.

    Parameters
    ----------
    side : str
        ``"BUY"`` or ``"SELL"``.
    quantity : float
        Parent quantity (> 0).
    arrival_mid : float
        Mid at arrival (> 0).
    fills : sequence of Fill
        The child fills.
    end_mid : float, optional
        Mid at the end of the horizon, marking the unfilled part; when it is NaN and part of the
        parent is unfilled the result is NaN (the opportunity cost is unknown).

    Returns
    -------
    float
        Positive is a cost. A fully filled parent does not need ``end_mid``.

    Raises
    ------
    DataError
        If ``side``, ``quantity`` or ``arrival_mid`` is invalid.

    """
    if side not in SIDES:
        raise DataError(f"must be 'BUY' or 'SELL', was {side!r}", field="side")
    if not (math.isfinite(quantity) and quantity > 0.0):
        raise DataError(f"must be positive and finite, was {quantity}", field="quantity")
    if not (math.isfinite(arrival_mid) and arrival_mid > 0.0):
        raise DataError(f"must be positive and finite, was {arrival_mid}", field="arrival_mid")
    sign = 1.0 if side == "BUY" else -1.0
    filled = sum(fill.quantity for fill in fills)
    cost = sum(fill.quantity * (fill.price - arrival_mid) for fill in fills)
    unfilled = max(0.0, quantity - filled)
    if unfilled > 1e-12 * quantity:
        if not math.isfinite(end_mid):
            return math.nan
        cost += unfilled * (end_mid - arrival_mid)
    return sign * cost / (quantity * arrival_mid) * BASIS_POINTS


def price_advantage_bps(side: str, avg_px: float, arrival_mid: float) -> float:
    """Return ``s (m0 - p_bar) / m0 * 1e4``: positive when the fills beat the arrival mid (NaN if no fill)."""
    if side not in SIDES:
        raise DataError(f"must be 'BUY' or 'SELL', was {side!r}", field="side")
    if not (math.isfinite(avg_px) and math.isfinite(arrival_mid) and arrival_mid > 0.0):
        return math.nan
    sign = 1.0 if side == "BUY" else -1.0
    return sign * (arrival_mid - avg_px) / arrival_mid * BASIS_POINTS


def size_bucket(quantity: float, edges: Sequence[float]) -> str:
    """Return the label of the size bucket of ``quantity``: ``"<=e0"``, ``"(e0,e1]"``, ..., ``">eN"``.

    Parameters
    ----------
    quantity : float
        The parent quantity.
    edges : sequence of float
        Ascending upper edges (at least one).

    Raises
    ------
    DataError
        If ``edges`` is empty or not strictly ascending.

    """
    if not edges or any(b <= a for a, b in itertools.pairwise(edges)):
        raise DataError(f"need strictly ascending edges, were {list(edges)}", field="edges")
    if quantity <= edges[0]:
        return f"<={edges[0]:g}"
    for low, high in itertools.pairwise(edges):
        if quantity <= high:
            return f"({low:g},{high:g}]"
    return f">{edges[-1]:g}"


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Return the mean and its standard error (sample std / sqrt(n)) of the finite values.

    NaN values are dropped; the standard error is NaN with fewer than two values.
    """
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    mean = statistics.fmean(finite)
    if len(finite) < 2:
        return mean, math.nan
    return mean, statistics.stdev(finite) / math.sqrt(len(finite))


@dataclass(frozen=True)
class SummaryRow:
    """Aggregate of one group of parent outcomes.

    Attributes
    ----------
    key : tuple of str
        The group (policy, then the optional size bucket / side).
    n : int
        Parents in the group.
    shortfall_mean, shortfall_median, shortfall_se : float
        Implementation shortfall, bps: mean, median and standard error of the mean.
    advantage_mean, advantage_se : float
        Price advantage of the filled part, bps.
    fill_rate : float
        Filled quantity over parent quantity.
    children_mean : float
        Orders sent to the venue per parent.
    completed : int
        Parents fully filled.

    """

    key: tuple[str, ...]
    n: int
    shortfall_mean: float
    shortfall_median: float
    shortfall_se: float
    advantage_mean: float
    advantage_se: float
    fill_rate: float
    children_mean: float
    completed: int


GroupKey = Callable[[ParentOutcome], tuple[str, ...]]


def by_policy(outcome: ParentOutcome) -> tuple[str, ...]:
    """Group by policy."""
    return (outcome.policy,)


def by_policy_and_bucket(edges: Sequence[float]) -> GroupKey:
    """Return a grouping by policy and size bucket (:func:`size_bucket` with ``edges``)."""

    def key(outcome: ParentOutcome) -> tuple[str, ...]:
        return outcome.policy, size_bucket(outcome.quantity, edges)

    return key


def by_policy_and_side(outcome: ParentOutcome) -> tuple[str, ...]:
    """Group by policy and side."""
    return outcome.policy, outcome.side


def summarize(outcomes: Iterable[ParentOutcome], key: GroupKey = by_policy) -> list[SummaryRow]:
    """Aggregate outcomes per group, in the order the groups first appear.

    Parameters
    ----------
    outcomes : iterable of ParentOutcome
        The parent outcomes.
    key : callable
        Maps an outcome to its group (:func:`by_policy`, :func:`by_policy_and_bucket`, ...).

    Returns
    -------
    list of SummaryRow
        One row per group.

    """
    groups: dict[tuple[str, ...], list[ParentOutcome]] = {}
    for outcome in outcomes:
        groups.setdefault(key(outcome), []).append(outcome)
    rows = []
    for group, members in groups.items():
        shortfalls = [m.shortfall_bps for m in members]
        finite = [v for v in shortfalls if math.isfinite(v)]
        mean, se = mean_se(shortfalls)
        adv_mean, adv_se = mean_se([m.price_advantage_bps for m in members])
        total = sum(m.quantity for m in members)
        rows.append(
            SummaryRow(
                key=group,
                n=len(members),
                shortfall_mean=mean,
                shortfall_median=statistics.median(finite) if finite else math.nan,
                shortfall_se=se,
                advantage_mean=adv_mean,
                advantage_se=adv_se,
                fill_rate=sum(m.filled_qty for m in members) / total,
                children_mean=statistics.fmean(m.children for m in members),
                completed=sum(1 for m in members if m.fill_rate >= 1.0 - 1e-9),
            )
        )
    return rows


def paired_difference(
    outcomes: Iterable[ParentOutcome], policy: str, baseline: str
) -> tuple[float, float, int]:
    """Return the mean and standard error of ``IS(policy) - IS(baseline)`` over parents both ran.

    Parents are matched by :attr:`ParentOutcome.parent` (and the outcome's ``extra["set"]`` when the
    outcomes come from several parent sets). Negative means ``policy`` is cheaper.

    Returns
    -------
    tuple of (float, float, int)
        Mean difference (bps), its standard error, and the number of pairs with both values finite.

    """
    table: dict[tuple[str, int], dict[str, float]] = {}
    for outcome in outcomes:
        if outcome.policy in (policy, baseline):
            ident = (outcome.extra.get("set", ""), outcome.parent)
            table.setdefault(ident, {})[outcome.policy] = outcome.shortfall_bps
    diffs = [
        pair[policy] - pair[baseline]
        for pair in table.values()
        if policy in pair and baseline in pair and math.isfinite(pair[policy] - pair[baseline])
    ]
    mean, se = mean_se(diffs)
    return mean, se, len(diffs)


def kind_mix(outcomes: Iterable[ParentOutcome], policy: str = "selector") -> dict[str, int]:
    """Return how many parents of ``policy`` used each order kind, most frequent first."""
    counts = Counter(outcome.kind for outcome in outcomes if outcome.policy == policy)
    return dict(counts.most_common())


def _fmt(value: float, digits: int = 2) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.{digits}f}"


def render_table(rows: Sequence[SummaryRow], key_names: Sequence[str]) -> str:
    """Return the rows as a Markdown table (IS ± s.e., median, price advantage, fill rate, children)."""
    header = [
        *key_names,
        "parents",
        "IS mean ± s.e. (bps)",
        "IS median (bps)",
        "price adv. ± s.e. (bps)",
        "fill rate",
        "children / parent",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(key_names) + "---:|" * 6]
    for row in rows:
        cells = [
            *row.key,
            str(row.n),
            f"{_fmt(row.shortfall_mean)} ± {_fmt(row.shortfall_se)}",
            _fmt(row.shortfall_median),
            f"{_fmt(row.advantage_mean)} ± {_fmt(row.advantage_se)}",
            f"{row.fill_rate:.1%}",
            _fmt(row.children_mean, 1),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
