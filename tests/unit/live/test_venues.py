"""Real-venue node configs from the experiment config: built and validated, never connected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from ibapi.common import MarketDataTypeEnum as IBMarketDataTypeEnum
from nautilus_trader.adapters.binance.common.enums import BinanceAccountType, BinanceEnvironment
from nautilus_trader.adapters.binance.config import BinanceDataClientConfig, BinanceExecClientConfig
from nautilus_trader.adapters.bybit.config import BybitDataClientConfig
from nautilus_trader.adapters.interactive_brokers.config import (
    InteractiveBrokersDataClientConfig,
    InteractiveBrokersExecClientConfig,
)
from nautilus_trader.config import ImportableActorConfig

from nautilus_ai.config import ExperimentConfig
from nautilus_ai.errors import ConfigError
from nautilus_ai.live.paper import paper_node_config
from nautilus_ai.live.venues import (
    IB_ACCOUNT_ENV,
    map_instruments,
    parse_client_config,
    validate_venue_config,
    venue_node_config,
    with_credentials,
)
from nautilus_ai.test_kit import demo_catalog, small_experiment

BTC = {"AAPL.XNAS": "BTCUSDT.BINANCE", "MSFT.XNAS": "ETHUSDT.BINANCE"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("venues")
    catalog = demo_catalog(tmp, symbols=("AAPL", "MSFT"))
    cfg = small_experiment(catalog)
    return {"cfg": cfg, "catalog": catalog, "registry": tmp / "registry"}


def _binance(setup: dict[str, Any], **kwargs: Any) -> Any:
    return venue_node_config(
        setup["cfg"], "binance", registry_path=setup["registry"], model_version="m-1", symbols=BTC, **kwargs
    )


def test_binance_config_reuses_the_paper_components_on_mapped_instruments(setup: dict[str, Any]) -> None:
    config = _binance(setup)
    paper = paper_node_config(
        setup["cfg"], setup["catalog"], registry_path=setup["registry"], model_version="m-1"
    )
    # same component classes as the paper node (and so the backtest), in the same order
    assert [a.actor_path for a in config.actors] == [a.actor_path for a in paper.actors]
    assert [s.strategy_path for s in config.strategies] == [s.strategy_path for s in paper.strategies]
    assert [e.exec_algorithm_path for e in config.exec_algorithms] == [
        e.exec_algorithm_path for e in paper.exec_algorithms
    ]
    # ... but on the venue's instruments, with no replay or sandbox client left
    text = msgspec.json.encode([s.config for s in config.strategies]).decode()
    assert "BTCUSDT.BINANCE" in text and "ETHUSDT.BINANCE" in text and "XNAS" not in text
    assert set(config.data_clients) == {"BINANCE"} and set(config.exec_clients) == {"BINANCE"}
    data, execution = config.data_clients["BINANCE"], config.exec_clients["BINANCE"]
    assert isinstance(data, BinanceDataClientConfig) and isinstance(execution, BinanceExecClientConfig)
    assert data.environment == BinanceEnvironment.TESTNET and data.account_type == BinanceAccountType.SPOT
    assert data.instrument_provider.load_ids == frozenset(BTC.values())
    assert data.api_key is None and execution.api_secret is None
    assert config.exec_engine.reconciliation is True


def test_validation_checks_components_clients_and_instruments(
    setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BINANCE_TESTNET_API_KEY", raising=False)
    monkeypatch.setenv("BINANCE_TESTNET_API_SECRET", "not-read-here")
    report = validate_venue_config(_binance(setup))
    assert report.venue == "BINANCE"
    assert report.instruments == ("BTCUSDT.BINANCE", "ETHUSDT.BINANCE")
    assert report.used_instruments == report.instruments
    assert report.components == len(_binance(setup).actors) + len(_binance(setup).strategies) + len(
        _binance(setup).exec_algorithms
    )
    assert report.env_missing == ("BINANCE_TESTNET_API_KEY",)


def test_bybit_config_validates_with_product_types(setup: dict[str, Any]) -> None:
    config = venue_node_config(
        setup["cfg"],
        "bybit",
        registry_path=setup["registry"],
        model_version="m-1",
        symbols={"AAPL.XNAS": "BTCUSDT-LINEAR.BYBIT", "MSFT.XNAS": "ETHUSDT-SPOT.BYBIT"},
        testnet=False,
    )
    data = config.data_clients["BYBIT"]
    assert isinstance(data, BybitDataClientConfig)
    assert sorted(str(p).upper() for p in data.product_types or ()) == ["LINEAR", "SPOT"]
    assert "MAINNET" in str(data.environment).upper()
    assert validate_venue_config(config).instruments == ("BTCUSDT-LINEAR.BYBIT", "ETHUSDT-SPOT.BYBIT")


def test_unmapped_and_malformed_instruments_are_clear_errors(setup: dict[str, Any]) -> None:
    cfg: ExperimentConfig = setup["cfg"]
    with pytest.raises(ConfigError, match=r"MSFT\.XNAS has no binance symbol"):
        map_instruments(cfg.data.instruments, "binance", {"AAPL.XNAS": "BTCUSDT.BINANCE"})
    with pytest.raises(ConfigError, match="is on venue BYBIT, expected BINANCE"):
        map_instruments(["AAPL.XNAS"], "binance", {"AAPL.XNAS": "BTCUSDT-SPOT.BYBIT"})
    with pytest.raises(ConfigError, match="does not follow the bybit symbology"):
        map_instruments(["AAPL.XNAS"], "bybit", {"AAPL.XNAS": "BTCUSDT.BYBIT"})
    with pytest.raises(ConfigError, match="not in \\[data\\] instruments"):
        map_instruments(["AAPL.XNAS"], "binance", {"TSLA.XNAS": "BTCUSDT.BINANCE"})
    with pytest.raises(ConfigError, match="several"):
        map_instruments(
            ["AAPL.XNAS", "MSFT.XNAS"],
            "binance",
            {"AAPL.XNAS": "BTCUSDT.BINANCE", "MSFT.XNAS": "BTCUSDT.BINANCE"},
        )
    with pytest.raises(ConfigError, match="not supported"):
        map_instruments(["AAPL.XNAS"], "kraken", {})  # type: ignore[arg-type]
    # already on the venue: kept as is
    assert map_instruments(["ETHUSDT.BINANCE"], "binance") == {"ETHUSDT.BINANCE": "ETHUSDT.BINANCE"}


def test_keys_are_names_never_values(setup: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="not an environment variable name"):
        _binance(setup, api_key_env="sk-live-abc123")
    config = _binance(setup, api_key_env="MY_KEY", api_secret_env="MY_SECRET")
    assert "MY_KEY" not in config.json().decode()  # names are not stored, values never are
    with pytest.raises(ConfigError, match="MY_SECRET"):
        with_credentials(
            config, "binance", api_key_env="MY_KEY", api_secret_env="MY_SECRET", environ={"MY_KEY": "k"}
        )
    keyed = with_credentials(
        config,
        "binance",
        api_key_env="MY_KEY",
        api_secret_env="MY_SECRET",
        environ={"MY_KEY": "k", "MY_SECRET": "s"},
    )
    assert keyed.data_clients["BINANCE"].api_key == "k" and keyed.exec_clients["BINANCE"].api_secret == "s"
    # a config with a key value in it does not validate
    with pytest.raises(ConfigError, match=r"api_key holds a value"):
        validate_venue_config(keyed)


def test_validation_rejects_broken_paths_and_unloaded_instruments(setup: dict[str, Any]) -> None:
    config = _binance(setup)
    broken = msgspec.structs.replace(
        config,
        actors=[
            *config.actors,
            ImportableActorConfig(
                actor_path="nautilus_ai.nope:Ghost", config_path="nautilus_ai.nope:GhostConfig", config={}
            ),
        ],
    )
    with pytest.raises(ConfigError, match=r"actors\[\d+\]: nautilus_ai.nope:Ghost does not resolve"):
        validate_venue_config(broken)
    bad_field = msgspec.structs.replace(
        config,
        strategies=[
            msgspec.structs.replace(config.strategies[0], config={**config.strategies[0].config, "bogus": 1})
        ],
    )
    with pytest.raises(ConfigError, match=r"strategies\[0\].*does not parse"):
        validate_venue_config(bad_field)
    data = config.data_clients["BINANCE"]
    provider = msgspec.structs.replace(data.instrument_provider, load_ids=frozenset({"BTCUSDT.BINANCE"}))
    narrow = msgspec.structs.replace(
        config, data_clients={"BINANCE": msgspec.structs.replace(data, instrument_provider=provider)}
    )
    with pytest.raises(ConfigError, match=r"\['ETHUSDT.BINANCE'\].*not loaded"):
        validate_venue_config(narrow)


def _ib(setup: dict[str, Any], **kwargs: Any) -> Any:
    return venue_node_config(
        setup["cfg"], "interactive_brokers", registry_path=setup["registry"], model_version="m-1", **kwargs
    )


def test_interactive_brokers_config_maps_us_equities_and_validates_without_a_gateway(
    setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _ib(setup)
    paper = paper_node_config(
        setup["cfg"], setup["catalog"], registry_path=setup["registry"], model_version="m-1"
    )
    assert [a.actor_path for a in config.actors] == [a.actor_path for a in paper.actors]
    assert [s.strategy_path for s in config.strategies] == [s.strategy_path for s in paper.strategies]
    text = msgspec.json.encode([s.config for s in config.strategies]).decode()
    assert "AAPL.NASDAQ" in text and "MSFT.NASDAQ" in text and "XNAS" not in text
    assert set(config.data_clients) == {"IB"} and set(config.exec_clients) == {"IB"}
    data, execution = config.data_clients["IB"], config.exec_clients["IB"]
    assert isinstance(data, InteractiveBrokersDataClientConfig)
    assert isinstance(execution, InteractiveBrokersExecClientConfig)
    assert (data.ibg_host, data.ibg_port, execution.ibg_port) == ("127.0.0.1", 4002, 4002)  # paper gateway
    assert {str(i) for i in data.instrument_provider.load_ids} == {"AAPL.NASDAQ", "MSFT.NASDAQ"}
    assert execution.instrument_provider == data.instrument_provider and execution.account_id is None
    assert config.exec_engine.reconciliation is True

    monkeypatch.delenv(IB_ACCOUNT_ENV, raising=False)
    report = validate_venue_config(config)
    assert report.venue == "IB" and report.instruments == ("AAPL.NASDAQ", "MSFT.NASDAQ")
    assert report.used_instruments == report.instruments
    assert report.env_missing == (IB_ACCOUNT_ENV,)  # the gateway's account id, read when connecting
    monkeypatch.setenv(IB_ACCOUNT_ENV, "DU0000000")
    assert validate_venue_config(config).env_missing == ()
    live = _ib(setup, testnet=False, ib_host="10.0.0.5", ib_client_id=7)
    assert (live.data_clients["IB"].ibg_port, live.exec_clients["IB"].ibg_client_id) == (4001, 7)
    assert validate_venue_config(live).venue == "IB"


def test_interactive_brokers_client_configs_round_trip_through_json(setup: dict[str, Any]) -> None:
    config = _ib(setup, ib_port=4999)
    data = config.data_clients["IB"]
    with pytest.raises(TypeError, match="not supported"):  # why the plain parse cannot be used
        type(data).parse(data.json())
    parsed = parse_client_config(data)
    assert isinstance(parsed, InteractiveBrokersDataClientConfig)
    assert (parsed.ibg_port, parsed.market_data_type) == (4999, IBMarketDataTypeEnum.REALTIME)
    assert {str(i) for i in parsed.instrument_provider.load_ids} == {"AAPL.NASDAQ", "MSFT.NASDAQ"}
    assert parse_client_config(config.exec_clients["IB"]).ibg_port == 4999
    broken = msgspec.structs.replace(
        config, data_clients={"IB": msgspec.structs.replace(data, ibg_port="not a port")}
    )
    with pytest.raises(ConfigError, match=r"data_clients\[IB\] does not parse.*ibg_port"):
        validate_venue_config(broken)


def test_interactive_brokers_needs_a_symbol_for_instruments_off_its_exchanges(setup: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"BTCUSDT\.BINANCE has no interactive_brokers symbol"):
        map_instruments(["BTCUSDT.BINANCE"], "interactive_brokers")
    mapped = map_instruments(
        ["AAPL.XNAS", "EURUSD.SIM"], "interactive_brokers", {"EURUSD.SIM": "EUR/USD.IDEALPRO"}
    )
    assert mapped == {"AAPL.XNAS": "AAPL.NASDAQ", "EURUSD.SIM": "EUR/USD.IDEALPRO"}


@pytest.mark.parametrize(
    ("script", "instrument"),
    [("binance_testnet.py", "BTCUSDT.BINANCE"), ("interactive_brokers_paper.py", "AAPL.NASDAQ")],
)
def test_example_script_prints_a_validated_config(script: str, instrument: str) -> None:
    import subprocess
    import sys

    path = Path(__file__).resolve().parents[3] / "examples" / "venues" / script
    result = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "validated" in result.stdout and instrument in result.stdout
    assert "not connected" in result.stdout
