"""Validation of canonical frames before anything reaches the catalog.

Checks, in this order (rows named by their 1-based data row in the source file):

* ``missing``: NaN / unparseable values or timestamps.
* ``non_positive_price``: a price <= 0.
* ``negative_volume``: volume or size < 0 (trade quantities must be > 0).
* ``high_below_low``, ``open_outside_range``, ``close_outside_range``: OHLC consistency (bars), checked
  after rounding to the instrument's precision; ``crossed_quote``: bid > ask (quotes).
* ``duplicate``: a repeated bar timestamp, or a repeated trade id (several trades may share a timestamp).
* ``out_of_order``: a timestamp earlier than one before it.
* ``outlier``: a close-to-close log return more than ``sigmas`` robust standard deviations
  (1.4826 * MAD around the median) from the median return (bars).
* ``gap``: missing bars. Daily bars with a ``calendar``: every session of the exchange calendar between the
  first and last bar must be present (weekends and holidays are not gaps) and bars on non-sessions are
  errors (``off_calendar``). Daily bars without a calendar: every weekday (every day for crypto).
  Intraday bars: a missing interval is a gap; for crypto (24/7) every interval counts, for other kinds only
  gaps inside one local day (``timezone``), since overnight and weekend breaks are market closures.
  A run of at most ``max_gap_bars`` missing bars is a warning; longer runs are errors.

Policy: without ``repair`` the first error (lowest row) is raised as :class:`~nautilus_ai.errors.DataError`.
With ``repair`` every error is fixed explicitly and recorded: bad rows and outliers are dropped, duplicates
keep their first row, rows are sorted; gaps are reported, never filled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import exchange_calendars
import numpy as np
import pandas as pd

from nautilus_ai.catalog.instruments import InstrumentSpec
from nautilus_ai.catalog.readers import Table
from nautilus_ai.errors import ConfigError, DataError

Severity = Literal["error", "warning"]
ROW_CHECKS = (
    "missing",
    "non_positive_price",
    "negative_volume",
    "high_below_low",
    "open_outside_range",
    "close_outside_range",
    "crossed_quote",
)


@dataclass
class Issue:
    """One validation finding."""

    check: str
    row: int | None
    field: str | None
    message: str
    severity: Severity = "error"

    def to_dict(self) -> dict[str, object]:
        """Return the issue as a JSON-ready dict."""
        return {
            "check": self.check,
            "row": self.row,
            "field": self.field,
            "message": self.message,
            "severity": self.severity,
        }


@dataclass
class ValidationResult:
    """The outcome of validating one table.

    Attributes
    ----------
    frame : pd.DataFrame
        The rows to write (repaired when ``repair`` was set), sorted by ``ts``.
    issues : list[Issue]
        Every finding, errors and warnings.
    dropped : dict[str, int]
        Rows dropped per check (repair only).
    fixes : list[str]
        Human-readable descriptions of the repairs applied.
    thresholds : dict[str, float]
        The thresholds used (``outlier_sigmas``, ``max_gap_bars``).

    """

    frame: pd.DataFrame
    issues: list[Issue] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    fixes: list[str] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def errors(self) -> list[Issue]:
        """The error findings."""
        return [issue for issue in self.issues if issue.severity == "error"]


def validate_table(
    table: Table,
    spec: InstrumentSpec,
    *,
    interval: pd.Timedelta | None = None,
    outlier_sigmas: float = 10.0,
    repair: bool = False,
    timezone: str = "UTC",
) -> ValidationResult:
    """Validate (and with ``repair``, fix) a canonical table whose ``ts`` column holds the final timestamps.

    Parameters
    ----------
    table : Table
        The rounded canonical table (bars: ``ts`` are the close times).
    spec : InstrumentSpec
        Gives ``calendar``, ``max_gap_bars``, ``outlier_sigmas`` (overrides ``outlier_sigmas``) and the kind.
    interval : pd.Timedelta, optional
        The bar interval (bars only).
    outlier_sigmas : float
        The default return-outlier threshold.
    repair : bool
        Fix what can be fixed instead of raising.
    timezone : str
        The local timezone for day boundaries of gap checks.

    Returns
    -------
    ValidationResult
        The rows to write and the findings.

    Raises
    ------
    DataError
        Without ``repair``, for the first error found (lowest source row); the message names file, row,
        field and what was expected, and counts the other errors.

    """
    frame = table.frame
    sigmas = spec.outlier_sigmas if spec.outlier_sigmas is not None else outlier_sigmas
    result = ValidationResult(frame, thresholds={"outlier_sigmas": sigmas, "max_gap_bars": spec.max_gap_bars})
    bad = _row_checks(table, result)
    clean = frame[~bad]
    clean = _order_checks(table, clean, result)
    if table.kind == "bars":
        if interval is not None and len(clean) > 1:
            _gap_check(table, clean, spec, interval, timezone, repair, result)
        clean = _outlier_check(table, clean, sigmas, result)
    errors = result.errors
    if errors and not repair:
        first = min(errors, key=lambda issue: (issue.row is None, issue.row or 0))
        more = (
            f" ({len(errors) - 1} more problem(s) in this file; --repair drops bad rows)"
            if len(errors) > 1
            else ""
        )
        raise DataError(first.message + more, file=str(table.file), row=first.row, field=first.field)
    result.frame = clean.reset_index(drop=True)
    for check, count in result.dropped.items():
        if count:
            result.fixes.append(f"dropped {count} row(s) failing '{check}'")
    return result


def _flag(
    result: ValidationResult, table: Table, check: str, mask: pd.Series, column: str, expected: str
) -> None:
    for row, value in zip(table.frame.loc[mask, "row"], table.frame.loc[mask, column], strict=True):
        result.issues.append(
            Issue(
                check,
                int(row),
                table.source_field("timestamp" if column == "ts" else column),
                f"{check}: value {value!r}, expected {expected}",
            )
        )


def _row_checks(table: Table, result: ValidationResult) -> pd.Series:
    frame = table.frame
    bad = pd.Series(False, index=frame.index)
    kind = table.kind
    value_columns = [c for c in frame.columns if c not in {"row", "ts", "side", "trade_id"}]
    missing = frame["ts"].isna()
    _flag(result, table, "missing", missing, "ts", "a parseable timestamp")
    for column in value_columns:
        mask = frame[column].isna() & ~missing
        for row in frame.loc[mask, "row"]:
            result.issues.append(
                Issue(
                    "missing",
                    int(row),
                    table.source_field(column),
                    "missing: empty or non-numeric, expected a number",
                )
            )
        missing |= frame[column].isna()
    bad |= missing
    prices = {
        "bars": ["open", "high", "low", "close"],
        "trades": ["price"],
        "quotes": ["bid_price", "ask_price"],
    }[kind]
    for column in prices:
        mask = (frame[column] <= 0) & ~bad
        _flag(result, table, "non_positive_price", mask, column, "a price > 0")
        bad |= mask
    sizes = {"bars": ["volume"], "trades": ["quantity"], "quotes": ["bid_size", "ask_size"]}[kind]
    for column in (c for c in sizes if c in frame):
        mask = ((frame[column] <= 0) if kind == "trades" else (frame[column] < 0)) & ~bad
        _flag(
            result,
            table,
            "negative_volume",
            mask,
            column,
            "a size > 0" if kind == "trades" else "a volume >= 0",
        )
        bad |= mask
    if kind == "bars":
        for check, column, mask, expected in (
            ("high_below_low", "high", frame["high"] < frame["low"], "high >= low"),
            (
                "open_outside_range",
                "open",
                (frame["open"] > frame["high"]) | (frame["open"] < frame["low"]),
                "low <= open <= high",
            ),
            (
                "close_outside_range",
                "close",
                (frame["close"] > frame["high"]) | (frame["close"] < frame["low"]),
                "low <= close <= high",
            ),
        ):
            mask = mask & ~bad
            _flag(result, table, check, mask, column, f"{expected} (after rounding to the price precision)")
            bad |= mask
    if kind == "quotes":
        mask = (frame["bid_price"] > frame["ask_price"]) & ~bad
        _flag(result, table, "crossed_quote", mask, "bid_price", "bid_price <= ask_price")
        bad |= mask
    for check in ROW_CHECKS:
        count = sum(1 for issue in result.issues if issue.check == check)
        if count:
            result.dropped[check] = count
    return bad


def _order_checks(table: Table, clean: pd.DataFrame, result: ValidationResult) -> pd.DataFrame:
    key = "trade_id" if table.kind == "trades" and "trade_id" in table.source_columns else "ts"
    duplicated = (
        clean.duplicated(subset=[key], keep="first") if table.kind != "quotes" or key != "ts" else None
    )
    if table.kind == "bars" or key == "trade_id":
        assert duplicated is not None
        for row, stamp in zip(clean.loc[duplicated, "row"], clean.loc[duplicated, key], strict=True):
            result.issues.append(
                Issue(
                    "duplicate",
                    int(row),
                    table.source_field("timestamp" if key == "ts" else key),
                    f"duplicate: {stamp} repeats an earlier row, expected unique values",
                )
            )
        if duplicated.any():
            result.dropped["duplicate"] = int(duplicated.sum())
            clean = clean[~duplicated]
    running_max = clean["ts"].cummax().shift(1)
    out_of_order = clean["ts"] < running_max
    for row, stamp in zip(clean.loc[out_of_order, "row"], clean.loc[out_of_order, "ts"], strict=True):
        result.issues.append(
            Issue(
                "out_of_order",
                int(row),
                table.source_field("timestamp"),
                f"out_of_order: {stamp} is earlier than a previous row, expected ascending timestamps",
            )
        )
    if out_of_order.any():
        result.fixes.append(f"sorted {int(out_of_order.sum())} out-of-order row(s) by timestamp")
        clean = clean.sort_values("ts", kind="stable")
    return clean


def _outlier_check(
    table: Table, clean: pd.DataFrame, sigmas: float, result: ValidationResult
) -> pd.DataFrame:
    if len(clean) < 3:
        return clean
    returns = np.log(clean["close"]).diff()
    median = returns.median()
    scale = 1.4826 * (returns - median).abs().median()
    if not np.isfinite(scale) or scale == 0:
        return clean
    z = (returns - median).abs() / scale
    outliers = z > sigmas
    for row, ret, score in zip(clean.loc[outliers, "row"], returns[outliers], z[outliers], strict=True):
        result.issues.append(
            Issue(
                "outlier",
                int(row),
                table.source_field("close"),
                f"outlier: return {ret:+.4%} is {score:.1f} robust sigmas from the median, expected at most "
                f"{sigmas:g} (raise the instrument's outlier_sigmas if this move is real)",
            )
        )
    if outliers.any():
        result.dropped["outlier"] = int(outliers.sum())
        clean = clean[~outliers]
    return clean


@lru_cache(maxsize=32)
def _sessions(name: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    try:
        calendar = exchange_calendars.get_calendar(name, start=start, end=end)
    except exchange_calendars.errors.InvalidCalendarName as exc:
        raise ConfigError(f"unknown exchange calendar {name!r}") from exc
    return calendar.sessions_in_range(start, end)


def _gap_check(
    table: Table,
    clean: pd.DataFrame,
    spec: InstrumentSpec,
    interval: pd.Timedelta,
    timezone: str,
    repair: bool,
    result: ValidationResult,
) -> None:
    field_name = table.source_field("timestamp")
    local = clean["ts"].dt.tz_convert(timezone)
    if interval >= pd.Timedelta(days=1):
        dates = pd.DatetimeIndex(local.dt.tz_localize(None).dt.normalize())
        if spec.calendar:
            expected = _sessions(
                spec.calendar, dates.min() - pd.Timedelta(days=7), dates.max() + pd.Timedelta(days=7)
            )
            expected = expected[(expected >= dates.min()) & (expected <= dates.max())]
            off = ~dates.isin(expected)
            for row, date in zip(clean.loc[off, "row"], dates[off], strict=True):
                result.issues.append(
                    Issue(
                        "off_calendar",
                        int(row),
                        field_name,
                        f"off_calendar: {date.date()} is not a {spec.calendar} session, "
                        "expected a trading day",
                    )
                )
        elif spec.is_crypto:
            expected = pd.date_range(dates.min(), dates.max(), freq="D")
        else:
            expected = pd.bdate_range(dates.min(), dates.max())
        present = pd.Series(np.isin(expected.to_numpy(), dates.to_numpy()), index=expected)
        missing_runs = _runs(present.to_numpy())
        row_for_date = pd.Series(clean["row"].to_numpy(), index=dates)
        for start, length in missing_runs:
            after = expected[start + length] if start + length < len(expected) else None
            row = (
                int(row_for_date.get(after, row_for_date.iloc[-1]))  # type: ignore[arg-type]
                if after is not None
                else None
            )
            label = f"{expected[start].date()}" + (
                f"..{expected[start + length - 1].date()}" if length > 1 else ""
            )
            _gap_issue(result, spec, repair, row, field_name, length, f"session(s) {label}")
        return
    steps = clean["ts"].diff()
    missing = (steps / interval).fillna(1).round().astype("int64") - 1  # type: ignore[operator]
    is_gap = missing > 0
    if not spec.is_crypto:
        same_day = local.dt.date == local.shift(1).dt.date
        is_gap &= same_day
    for row, before, count in zip(
        clean.loc[is_gap, "row"], (clean["ts"] - steps)[is_gap], missing[is_gap], strict=True
    ):
        _gap_issue(result, spec, repair, int(row), field_name, int(count), f"after {before}")


def _gap_issue(
    result: ValidationResult,
    spec: InstrumentSpec,
    repair: bool,
    row: int | None,
    field_name: str,
    count: int,
    where: str,
) -> None:
    allowed = count <= spec.max_gap_bars
    severity: Severity = "warning" if allowed or repair else "error"
    hint = (
        "" if allowed else f" (allow with max_gap_bars >= {count} in the instrument entry if the gap is real)"
    )
    result.issues.append(
        Issue("gap", row, field_name, f"gap: {count} missing bar(s) {where}, expected no gap{hint}", severity)
    )


def _runs(present: np.ndarray) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    start = None
    for index, flag in enumerate(present):
        if not flag and start is None:
            start = index
        elif flag and start is not None:
            runs.append((start, index - start))
            start = None
    if start is not None:
        runs.append((start, len(present) - start))
    return runs


def describe(file: Path, result: ValidationResult) -> str:
    """Return a short human summary of a validation result."""
    lines = [f"Validation of {file}", f"rows kept: {len(result.frame)}"]
    lines += [f"fix: {fix}" for fix in result.fixes] or ["fix: none"]
    lines += [
        f"{issue.severity}: row {issue.row} field {issue.field}: {issue.message}" for issue in result.issues
    ]
    return "\n".join(lines) + "\n"
