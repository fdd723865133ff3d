"""Real-venue TradingNode configs built from the experiment config, validated without connecting.

:func:`venue_node_config` builds the ``TradingNodeConfig`` of a live node on a real venue through
NautilusTrader's adapters (Binance, Bybit, Interactive Brokers through ``nautilus-ibapi``) from the
same :class:`~nautilus_ai.config.ExperimentConfig` a backtest and a paper node are built from: the
actors, strategies and exec algorithms are those :func:`nautilus_ai.live.paper.paper_node_config`
builds (so those of :func:`nautilus_ai.backtest.node_config.ml_run`), on the experiment's instruments
mapped to the venue's symbology; the replay data client and the sandbox execution clients are
replaced by the venue's data and execution clients.

API keys never enter a config: the clients get ``api_key=None`` and the adapters read the keys from
their environment variables when the node connects; :func:`with_credentials` copies them from
environment variables named by the caller into the configs just before connecting.

:func:`validate_venue_config` checks a config without connecting or starting a node: every importable
path resolves and every component config parses, the data and execution client configs parse and have
their factories, every instrument and bar type the components use is loaded by the venue's instrument
provider, and no credential value is set in a client config.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import msgspec
from nautilus_trader.common.config import NautilusConfig, msgspec_decoding_hook, resolve_path
from nautilus_trader.config import (
    ImportableActorConfig,
    InstrumentProviderConfig,
    LiveDataClientConfig,
    LiveExecClientConfig,
    LiveExecEngineConfig,
    TradingNodeConfig,
)
from nautilus_trader.model.data import BarType
from nautilus_trader.model.identifiers import InstrumentId

from nautilus_ai.config import ExperimentConfig
from nautilus_ai.errors import ConfigError
from nautilus_ai.live.paper import paper_node_config
from nautilus_ai.live.persistence import RedisSettings

VenueName = Literal["binance", "bybit", "interactive_brokers"]

VENUES: tuple[str, ...] = ("binance", "bybit", "interactive_brokers")
"""The venues :func:`venue_node_config` builds configs for."""

_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_SECRET_FIELDS = ("api_key", "api_secret")
_INSTRUMENT_KEYS = {"instrument_id", "instrument_ids"}
_BAR_TYPE_KEYS = {"bar_type", "bar_types"}


@dataclasses.dataclass(frozen=True)
class VenueSpec:
    """How one venue's adapter is configured.

    Parameters
    ----------
    name : str
        The venue name in instrument ids (``BTCUSDT.BINANCE``).
    client_id : str
        The name of the node's data and execution clients.
    symbol_pattern : str
        A regular expression every mapped symbol must match.
    symbology : str
        The symbology in words, for error messages.
    data_factory, exec_factory : str
        Import paths (``module:Class``) of the adapter's live client factories.
    api_key_env, api_secret_env, testnet_api_key_env, testnet_api_secret_env : str
        The environment variables the adapter reads its keys from (live, testnet).

    """

    name: str
    client_id: str
    symbol_pattern: str
    symbology: str
    data_factory: str
    exec_factory: str
    api_key_env: str
    api_secret_env: str
    testnet_api_key_env: str
    testnet_api_secret_env: str


VENUE_SPECS: dict[str, VenueSpec] = {
    "binance": VenueSpec(
        name="BINANCE",
        client_id="BINANCE",
        symbol_pattern=r"^[A-Z0-9]{2,20}(-PERP)?$",
        symbology="BASEQUOTE for spot (BTCUSDT.BINANCE), BASEQUOTE-PERP for perpetuals",
        data_factory="nautilus_trader.adapters.binance.factories:BinanceLiveDataClientFactory",
        exec_factory="nautilus_trader.adapters.binance.factories:BinanceLiveExecClientFactory",
        api_key_env="BINANCE_API_KEY",
        api_secret_env="BINANCE_API_SECRET",
        testnet_api_key_env="BINANCE_TESTNET_API_KEY",
        testnet_api_secret_env="BINANCE_TESTNET_API_SECRET",
    ),
    "bybit": VenueSpec(
        name="BYBIT",
        client_id="BYBIT",
        symbol_pattern=r"^[A-Z0-9]{2,20}-(SPOT|LINEAR|INVERSE|OPTION)$",
        symbology="BASEQUOTE-<PRODUCT>, PRODUCT one of SPOT, LINEAR, INVERSE, OPTION (BTCUSDT-SPOT.BYBIT)",
        data_factory="nautilus_trader.adapters.bybit.factories:BybitLiveDataClientFactory",
        exec_factory="nautilus_trader.adapters.bybit.factories:BybitLiveExecClientFactory",
        api_key_env="BYBIT_API_KEY",
        api_secret_env="BYBIT_API_SECRET",
        testnet_api_key_env="BYBIT_TESTNET_API_KEY",
        testnet_api_secret_env="BYBIT_TESTNET_API_SECRET",
    ),
    "interactive_brokers": VenueSpec(
        name="",  # IB instruments keep their exchange as venue (AAPL.NASDAQ)
        client_id="IB",
        symbol_pattern=r"^[A-Z0-9./ -]{1,20}$",
        symbology="SYMBOL.EXCHANGE in IB's simplified symbology (AAPL.NASDAQ, EUR/USD.IDEALPRO)",
        data_factory="nautilus_trader.adapters.interactive_brokers.factories:InteractiveBrokersLiveDataClientFactory",
        exec_factory="nautilus_trader.adapters.interactive_brokers.factories:InteractiveBrokersLiveExecClientFactory",
        api_key_env="",
        api_secret_env="",
        testnet_api_key_env="",
        testnet_api_secret_env="",
    ),
}
"""The supported venues' adapter settings."""

_IB_EXCHANGES = {"XNAS": "NASDAQ", "XNYS": "NYSE", "ARCX": "ARCA", "BATS": "BATS"}
IB_ACCOUNT_ENV = "TWS_ACCOUNT"
"""The variable NautilusTrader's IB execution factory reads the account id from (the config holds none)."""


@dataclasses.dataclass(frozen=True)
class VenueValidation:
    """What :func:`validate_venue_config` checked.

    Attributes
    ----------
    venue : str
        The venue's client id.
    components : int
        Actors, strategies and exec algorithms whose paths resolved and configs parsed.
    instruments : tuple[str, ...]
        The instruments the venue's instrument provider loads.
    used_instruments : tuple[str, ...]
        The instruments the components use (each one in ``instruments``).
    env_missing : tuple[str, ...]
        Credential environment variables (names) that are not set in this process (for Interactive
        Brokers, :data:`IB_ACCOUNT_ENV` when the execution client has no ``account_id``).

    """

    venue: str
    components: int
    instruments: tuple[str, ...]
    used_instruments: tuple[str, ...]
    env_missing: tuple[str, ...]


def map_instruments(
    instruments: Sequence[str], venue: VenueName, symbols: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Return the venue's instrument id of every experiment instrument.

    Parameters
    ----------
    instruments : Sequence[str]
        The experiment's instrument ids (``[data] instruments``).
    venue : {"binance", "bybit", "interactive_brokers"}
        The target venue.
    symbols : Mapping[str, str], optional
        Experiment instrument id -> venue instrument id. An instrument not listed keeps its id when
        it already is on the venue (``BTCUSDT.BINANCE`` for Binance); for Interactive Brokers a
        US equity (``AAPL.XNAS``) maps to its IB exchange (``AAPL.NASDAQ``).

    Returns
    -------
    dict[str, str]
        Experiment id -> venue id, in the order of ``instruments``.

    Raises
    ------
    ConfigError
        If an instrument has no mapping, a mapped id does not parse, is on another venue or does not
        follow the venue's symbology, or two instruments map to the same venue id.

    """
    spec = _spec(venue)
    symbols = dict(symbols or {})
    unknown = sorted(set(symbols) - set(instruments))
    if unknown:
        raise ConfigError(f"symbols maps {unknown}, which are not in [data] instruments {list(instruments)}")
    mapped: dict[str, str] = {}
    for iid in instruments:
        source = InstrumentId.from_str(iid)
        target = symbols.get(iid)
        if target is None:
            if venue == "interactive_brokers" and source.venue.value in _IB_EXCHANGES:
                target = f"{source.symbol.value}.{_IB_EXCHANGES[source.venue.value]}"
            elif source.venue.value == spec.name:
                target = iid
            else:
                raise ConfigError(
                    f"[data] instruments: {iid} has no {venue} symbol: pass symbols={{{iid!r}: "
                    f"'<SYMBOL>.{spec.name or 'EXCHANGE'}'}} ({spec.symbology})"
                )
        try:
            parsed = InstrumentId.from_str(target)
        except ValueError:
            raise ConfigError(
                f"symbols[{iid!r}] = {target!r} is not an instrument id: expected {spec.symbology}"
            ) from None
        if spec.name and parsed.venue.value != spec.name:
            raise ConfigError(
                f"symbols[{iid!r}] = {target!r} is on venue {parsed.venue.value}, expected {spec.name}"
            )
        if not re.match(spec.symbol_pattern, parsed.symbol.value):
            raise ConfigError(
                f"symbols[{iid!r}] = {target!r} does not follow the {venue} symbology: "
                f"expected {spec.symbology}"
            )
        mapped[iid] = target
    doubles = sorted({t for t in mapped.values() if list(mapped.values()).count(t) > 1})
    if doubles:
        raise ConfigError(f"symbols: several [data] instruments map to {doubles}: expected one venue id each")
    return mapped


def venue_node_config(
    cfg: ExperimentConfig,
    venue: VenueName,
    *,
    registry_path: str | Path,
    model_version: str,
    regime_version: str | None = None,
    symbols: Mapping[str, str] | None = None,
    catalog: str | Path | None = None,
    trade_start: str | None = None,
    payoff_ratio: float = 1.0,
    cvar_scenarios_path: str | None = None,
    returns_path: str | None = None,
    equity_path: str | Path | None = None,
    events_dir: str | Path | None = None,
    extra_actors: Sequence[ImportableActorConfig] = (),
    api_key_env: str | None = None,
    api_secret_env: str | None = None,
    testnet: bool = True,
    account_type: str | None = None,
    ib_host: str = "127.0.0.1",
    ib_port: int | None = None,
    ib_client_id: int = 1,
    trader_id: str = "LIVE-001",
    log_level: str = "INFO",
    redis: RedisSettings | None = None,
) -> TradingNodeConfig:
    """Return the ``TradingNodeConfig`` of ``cfg`` on a real venue (nothing connects here).

    Parameters
    ----------
    cfg : ExperimentConfig
        The experiment config the backtest and the paper node are built from.
    venue : {"binance", "bybit", "interactive_brokers"}
        The venue.
    registry_path, model_version, regime_version
        The model registry and the registered models the SignalActors (RegimeActors) serve.
    symbols : Mapping[str, str], optional
        Experiment instrument id -> venue instrument id (see :func:`map_instruments`).
    catalog : str or Path, optional
        The catalog of the experiment (default ``[data] catalog``): only read when the feature spec
        needs trades/quotes (to check the model was trained on them).
    trade_start, payoff_ratio, cvar_scenarios_path, returns_path, equity_path, events_dir, extra_actors
        As for :func:`~nautilus_ai.live.paper.paper_node_config`.
    api_key_env, api_secret_env : str, optional
        Names of the environment variables holding the keys (default the adapter's own, e.g.
        ``BINANCE_TESTNET_API_KEY``). Only names: the configs hold ``api_key=None``; pass the same
        names to :func:`with_credentials` before connecting.
    testnet : bool, default True
        The venue's testnet (Binance/Bybit) or IB's paper-trading gateway port (4002).
    account_type : str, optional
        Binance account type (``SPOT``, ``USDT_FUTURES``...; default ``SPOT``, ``USDT_FUTURES``
        when every symbol is a ``-PERP``).
    ib_host, ib_port, ib_client_id
        Interactive Brokers gateway (port default 4002 paper, 4001 live).
    trader_id, log_level, redis
        As for :func:`~nautilus_ai.live.paper.paper_node_config`.

    Returns
    -------
    TradingNodeConfig
        Build it with :func:`build_venue_node` (which registers the adapter's factories).

    Raises
    ------
    ConfigError
        If the venue is unknown, its adapter cannot be imported, an instrument has no venue symbol,
        or an environment variable name is not one.

    """
    spec = _spec(venue)
    for field, name in (("api_key_env", api_key_env), ("api_secret_env", api_secret_env)):
        if name is not None and not _ENV_NAME.match(name):
            raise ConfigError(
                f"{field}={name!r} is not an environment variable name (expected e.g. "
                f"{spec.testnet_api_key_env or 'VENUE_API_KEY'}): pass the variable's name, never its value"
            )
    mapped = map_instruments(cfg.data.instruments, venue, symbols)
    venue_cfg = _remapped(cfg, mapped)
    base = paper_node_config(
        venue_cfg,
        catalog if catalog is not None else (cfg.data.catalog or "."),
        registry_path=registry_path,
        model_version=model_version,
        regime_version=regime_version,
        trade_start=trade_start,
        payoff_ratio=payoff_ratio,
        cvar_scenarios_path=cvar_scenarios_path,
        returns_path=returns_path,
        equity_path=equity_path,
        events_dir=events_dir,
        extra_actors=extra_actors,
        trader_id=trader_id,
        log_level=log_level,
        redis=redis,
    )
    load_ids = frozenset(mapped.values())
    data, execution = _client_configs(
        venue,
        load_ids,
        testnet=testnet,
        account_type=account_type,
        host=ib_host,
        port=ib_port,
        client_id=ib_client_id,
    )
    return msgspec.structs.replace(
        base,
        data_clients={spec.client_id: data},
        exec_clients={spec.client_id: execution},
        exec_engine=LiveExecEngineConfig(reconciliation=True),  # a real account: reconcile on start
        timeout_connection=30.0,
        timeout_reconciliation=10.0,
        timeout_portfolio=10.0,
        timeout_disconnection=10.0,
        timeout_post_stop=5.0,
    )


def credential_env(venue: VenueName, *, testnet: bool = True) -> tuple[str, str]:
    """Return the names of the environment variables the venue's adapter reads its keys from.

    Raises
    ------
    ConfigError
        If the venue is unknown or has no API keys (Interactive Brokers logs in through its gateway).

    """
    spec = _spec(venue)
    if not spec.api_key_env:
        raise ConfigError(f"{venue} takes no API keys: its gateway holds the login")
    if testnet:
        return spec.testnet_api_key_env, spec.testnet_api_secret_env
    return spec.api_key_env, spec.api_secret_env


def with_credentials(
    config: TradingNodeConfig,
    venue: VenueName,
    *,
    api_key_env: str | None = None,
    api_secret_env: str | None = None,
    testnet: bool = True,
    environ: Mapping[str, str] | None = None,
) -> TradingNodeConfig:
    """Return ``config`` with the venue clients' keys read from the named environment variables.

    Call it only right before connecting: the returned config holds secrets (never log or save it).

    Raises
    ------
    ConfigError
        If a named variable is not set (the message names the variable, never a value).

    """
    environ = os.environ if environ is None else environ
    default_key, default_secret = credential_env(venue, testnet=testnet)
    values = {}
    for field, name in (
        ("api_key", api_key_env or default_key),
        ("api_secret", api_secret_env or default_secret),
    ):
        value = environ.get(name)
        if not value:
            raise ConfigError(f"environment variable {name} ({venue} {field}) is not set")
        values[field] = value
    client_id = _spec(venue).client_id
    data = {
        k: msgspec.structs.replace(v, **values) if k == client_id else v
        for k, v in config.data_clients.items()
    }
    execution = {
        k: msgspec.structs.replace(v, **values) if k == client_id else v
        for k, v in config.exec_clients.items()
    }
    return msgspec.structs.replace(config, data_clients=data, exec_clients=execution)


def validate_venue_config(
    config: TradingNodeConfig, *, api_key_env: str | None = None, api_secret_env: str | None = None
) -> VenueValidation:
    """Check a :func:`venue_node_config` config without connecting (no node is built or started).

    Checks that every actor, strategy and exec algorithm path and config path resolves and its config
    parses into its config class; that each data and execution client config round-trips through its
    class's JSON parser and its adapter's factory imports; that every instrument and bar type the
    components use is loaded by the venue's instrument provider; and that no client config holds a
    credential value.

    Parameters
    ----------
    config : TradingNodeConfig
        The config to check.
    api_key_env, api_secret_env : str, optional
        The credential variables to report on (default the adapter's own); their absence is reported
        in :attr:`VenueValidation.env_missing`, not an error.

    Returns
    -------
    VenueValidation
        What was checked.

    Raises
    ------
    ConfigError
        Naming the client, component or instrument that failed and what was expected.

    """
    if len(config.data_clients) != 1 or set(config.data_clients) != set(config.exec_clients):
        raise ConfigError(
            f"expected one venue data client and one execution client of the same name, got data "
            f"{sorted(config.data_clients)} and exec {sorted(config.exec_clients)}"
        )
    (client_id,) = config.data_clients
    venue, spec = _spec_of_client(client_id)
    for kind, client in (
        ("data_clients", config.data_clients[client_id]),
        ("exec_clients", config.exec_clients[client_id]),
    ):
        if not isinstance(client, LiveDataClientConfig | LiveExecClientConfig):
            raise ConfigError(f"{kind}[{client_id}] is a {type(client).__name__}, not a live client config")
        for secret in _SECRET_FIELDS:
            if getattr(client, secret, None):
                raise ConfigError(
                    f"{kind}[{client_id}].{secret} holds a value: keys come from environment variables only"
                )
        try:
            parse_client_config(client)
        except Exception as error:
            raise ConfigError(
                f"{kind}[{client_id}] does not parse as {type(client).__name__}: {error}"
            ) from None
    for path in (spec.data_factory, spec.exec_factory):
        _resolve(path, f"{client_id} client factory")
    provider = config.data_clients[client_id].instrument_provider
    loaded = tuple(sorted(provider.load_ids or ()))
    if not loaded and not provider.load_all:
        raise ConfigError(
            f"data_clients[{client_id}].instrument_provider loads no instruments: expected load_ids"
        )
    components = [
        *((f"actors[{i}]", c.actor_path, c.config_path, c.config) for i, c in enumerate(config.actors)),
        *(
            (f"strategies[{i}]", c.strategy_path, c.config_path, c.config)
            for i, c in enumerate(config.strategies)
        ),
        *(
            (f"exec_algorithms[{i}]", c.exec_algorithm_path, c.config_path, c.config)
            for i, c in enumerate(config.exec_algorithms)
        ),
    ]
    used: set[str] = set()
    for where, path, config_path, values in components:
        _resolve(path, where)
        config_cls = _resolve(config_path, f"{where}.config_path")
        if not (isinstance(config_cls, type) and issubclass(config_cls, NautilusConfig)):
            raise ConfigError(f"{where}.config_path {config_path} is not a NautilusConfig class")
        try:
            config_cls.parse(msgspec.json.encode(values))
        except Exception as error:
            raise ConfigError(
                f"{where} ({path}): its config does not parse as {config_cls.__name__}: {error}"
            ) from None
        used.update(_used_instruments(values, where))
    if not provider.load_all:
        missing = sorted(used - set(loaded))
        if missing:
            raise ConfigError(
                f"instruments {missing} used by the actors/strategies are not loaded by "
                f"data_clients[{client_id}].instrument_provider (load_ids {list(loaded)})"
            )
    env_missing: tuple[str, ...] = ()
    if spec.api_key_env:
        testnet = _is_testnet(config.data_clients[client_id])
        default_key, default_secret = credential_env(venue, testnet=testnet)  # type: ignore[arg-type]
        names = (api_key_env or default_key, api_secret_env or default_secret)
        env_missing = tuple(n for n in names if not os.environ.get(n))
    elif getattr(config.exec_clients[client_id], "account_id", "") is None:  # IB: the gateway's account
        env_missing = () if os.environ.get(IB_ACCOUNT_ENV) else (IB_ACCOUNT_ENV,)
    return VenueValidation(
        venue=client_id,
        components=len(components),
        instruments=loaded,
        used_instruments=tuple(sorted(used)),
        env_missing=env_missing,
    )


def parse_client_config(client: NautilusConfig) -> NautilusConfig:
    """Return ``client`` parsed back from its JSON into its class (a round trip, nothing connects).

    A field whose annotation msgspec cannot decode is decoded as the plain JSON value and handed to
    the class's constructor as such: Interactive Brokers' ``market_data_type`` is annotated with
    ``ibapi``'s ``MarketDataTypeEnum``, an object rather than a type, so
    ``InteractiveBrokersDataClientConfig.parse`` fails on any input while its values (ints) encode.

    Raises
    ------
    Exception
        Whatever msgspec or the class raises on a value that does not round-trip.

    """
    cls = type(client)
    raw = client.json()
    fields = msgspec.structs.fields(cls)
    undecodable = [f.name for f in fields if not _decodable(f.type)]
    if not undecodable:
        return cls.parse(raw)
    # every field is in the JSON (encoded with its value), so the stand-in needs no defaults
    stand_in = msgspec.defstruct(
        f"{cls.__name__}RoundTrip",
        [(f.name, Any if f.name in undecodable else f.type) for f in fields],
        kw_only=True,
    )
    decoded = msgspec.json.decode(raw, type=stand_in, dec_hook=msgspec_decoding_hook)
    return cls(**msgspec.structs.asdict(decoded))


def _decodable(annotation: Any) -> bool:
    try:
        msgspec.json.Decoder(annotation, dec_hook=msgspec_decoding_hook)
    except TypeError:
        return False
    return True


def build_venue_node(config: TradingNodeConfig) -> Any:
    """Build (not start) a TradingNode of ``config`` with its venue's client factories registered.

    Building a node creates its clients, which connect only when the node runs; call
    :func:`with_credentials` first.
    """
    import asyncio

    from nautilus_trader.live.node import TradingNode

    (client_id,) = config.data_clients
    _, spec = _spec_of_client(client_id)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    node = TradingNode(config=config, loop=loop)
    node.add_data_client_factory(client_id, _resolve(spec.data_factory, "data factory"))
    node.add_exec_client_factory(client_id, _resolve(spec.exec_factory, "exec factory"))
    node.build()
    return node


def _spec(venue: str) -> VenueSpec:
    if venue not in VENUE_SPECS:
        raise ConfigError(f"venue {venue!r} is not supported: expected one of {list(VENUES)}")
    return VENUE_SPECS[venue]


def _spec_of_client(client_id: str) -> tuple[str, VenueSpec]:
    for venue, spec in VENUE_SPECS.items():
        if spec.client_id == client_id:
            return venue, spec
    raise ConfigError(
        f"data client {client_id!r} is not a venue client: expected one of "
        f"{[s.client_id for s in VENUE_SPECS.values()]}"
    )


def _resolve(path: str, where: str) -> Any:
    try:
        return resolve_path(path)
    except (ImportError, AttributeError, ValueError) as error:
        raise ConfigError(f"{where}: {path} does not resolve: {error}") from None


def _remapped(cfg: ExperimentConfig, mapped: dict[str, str]) -> ExperimentConfig:
    """Return ``cfg`` on the venue's instrument ids (commissions keyed by the mapped venues)."""
    data = cfg.data.model_copy(update={"instruments": [mapped[i] for i in cfg.data.instruments]})
    venue_of = {
        InstrumentId.from_str(k).venue.value: InstrumentId.from_str(v).venue.value for k, v in mapped.items()
    }
    commissions = {venue_of.get(k, k): v for k, v in cfg.venue.commissions.items()}
    venue = cfg.venue.model_copy(update={"commissions": commissions})
    return cfg.model_copy(update={"data": data, "venue": venue})


def _used_instruments(values: Any, where: str) -> Iterator[str]:
    """Yield the instrument ids of the ``instrument_id(s)`` / ``bar_type(s)`` keys anywhere in ``values``."""
    if isinstance(values, Mapping):
        for key, value in values.items():
            items = value if isinstance(value, list | tuple) else [value]
            if key in _INSTRUMENT_KEYS:
                yield from (str(v) for v in items if v is not None)
            elif key in _BAR_TYPE_KEYS:
                for bar_type in items:
                    if bar_type is None:
                        continue
                    try:
                        yield str(BarType.from_str(str(bar_type)).instrument_id)
                    except ValueError:
                        raise ConfigError(f"{where}.{key}: {bar_type!r} is not a bar type") from None
            else:
                yield from _used_instruments(value, where)
    elif isinstance(values, list | tuple):
        for value in values:
            yield from _used_instruments(value, where)


def _is_testnet(client: Any) -> bool:
    environment = getattr(client, "environment", None)
    return environment is not None and "TESTNET" in str(environment).upper()


def _client_configs(
    venue: str,
    load_ids: frozenset[str],
    *,
    testnet: bool,
    account_type: str | None,
    host: str,
    port: int | None,
    client_id: int,
) -> tuple[LiveDataClientConfig, LiveExecClientConfig]:
    if venue == "binance":
        from nautilus_trader.adapters.binance.common.enums import BinanceAccountType, BinanceEnvironment
        from nautilus_trader.adapters.binance.config import BinanceDataClientConfig, BinanceExecClientConfig

        perp = all(InstrumentId.from_str(i).symbol.value.endswith("-PERP") for i in load_ids)
        name = account_type or ("USDT_FUTURES" if perp else "SPOT")
        try:
            binance_account = BinanceAccountType(name)
        except ValueError:
            raise ConfigError(
                f"account_type {name!r} is not a Binance account type: expected one of "
                f"{[a.value for a in BinanceAccountType]}"
            ) from None
        environment = BinanceEnvironment.TESTNET if testnet else BinanceEnvironment.LIVE
        provider = InstrumentProviderConfig(load_ids=load_ids)
        return (
            BinanceDataClientConfig(
                api_key=None,
                api_secret=None,
                account_type=binance_account,
                environment=environment,
                instrument_provider=provider,
            ),
            BinanceExecClientConfig(
                api_key=None,
                api_secret=None,
                account_type=binance_account,
                environment=environment,
                instrument_provider=provider,
            ),
        )
    if venue == "bybit":
        from nautilus_trader.adapters.bybit.config import BybitDataClientConfig, BybitExecClientConfig
        from nautilus_trader.core.nautilus_pyo3 import BybitEnvironment, BybitProductType

        products = sorted({InstrumentId.from_str(i).symbol.value.rsplit("-", 1)[1] for i in load_ids})
        product_types = tuple(getattr(BybitProductType, p) for p in products)
        bybit_environment = BybitEnvironment.TESTNET if testnet else BybitEnvironment.MAINNET
        provider = InstrumentProviderConfig(load_ids=load_ids)
        return (
            BybitDataClientConfig(
                api_key=None,
                api_secret=None,
                product_types=product_types,
                environment=bybit_environment,
                instrument_provider=provider,
            ),
            BybitExecClientConfig(
                api_key=None,
                api_secret=None,
                product_types=product_types,
                environment=bybit_environment,
                instrument_provider=provider,
            ),
        )
    try:
        ib_config = importlib.import_module("nautilus_trader.adapters.interactive_brokers.config")
    except ImportError as error:
        raise ConfigError(
            f"venue 'interactive_brokers' needs NautilusTrader's IB adapter, which does not import: {error} "
            "(its ibapi module comes from nautilus-ibapi, a dependency of nautilus-ai: run make setup)"
        ) from None
    ib_provider = ib_config.InteractiveBrokersInstrumentProviderConfig(load_ids=load_ids)
    gateway_port = port if port is not None else (4002 if testnet else 4001)
    return (
        ib_config.InteractiveBrokersDataClientConfig(
            ibg_host=host, ibg_port=gateway_port, ibg_client_id=client_id, instrument_provider=ib_provider
        ),
        ib_config.InteractiveBrokersExecClientConfig(
            ibg_host=host,
            ibg_port=gateway_port,
            ibg_client_id=client_id,
            account_id=None,
            instrument_provider=ib_provider,
        ),
    )
