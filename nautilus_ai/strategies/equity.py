"""Mark-to-market equity of a venue account, read from the portfolio."""

from nautilus_trader.model.identifiers import Venue
from nautilus_trader.portfolio.base import PortfolioFacade


def account_equity(portfolio: PortfolioFacade, venue: Venue) -> float:
    """Return the account's total balance plus the unrealized PnL of its open positions.

    Single-currency accounts are assumed (the first balance currency); returns NaN when the
    account does not exist yet.
    """
    account = portfolio.account(venue)
    if account is None:
        return float("nan")
    balances = account.balances_total()
    if not balances:
        return float("nan")
    currency, balance = next(iter(balances.items()))
    unrealized = portfolio.unrealized_pnls(venue)
    pnl = unrealized.get(currency)
    return balance.as_double() + (pnl.as_double() if pnl is not None else 0.0)
