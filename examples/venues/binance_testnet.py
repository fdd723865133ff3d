"""Build the Binance testnet node config of an experiment, validate it and print it (no connection).

Usage::

    python examples/venues/binance_testnet.py                      # the bundled demo experiment
    python examples/venues/binance_testnet.py --config exp.toml --registry registry \
        --model-version aapl-direction-abc --symbol AAPL.XNAS=BTCUSDT.BINANCE
    python examples/venues/binance_testnet.py ... --connect        # runs the node on the testnet

Without ``--connect`` nothing leaves this machine: the config is built from the experiment config,
checked by :func:`nautilus_ai.live.venues.validate_venue_config` and printed as JSON (it holds no
keys). With ``--connect`` the keys are read from the environment variables named by
``--api-key-env`` / ``--api-secret-env`` (default ``BINANCE_TESTNET_API_KEY`` /
``BINANCE_TESTNET_API_SECRET``) and the node runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from nautilus_ai.config import load_experiment
from nautilus_ai.errors import ConfigError
from nautilus_ai.live.venues import (
    build_venue_node,
    validate_venue_config,
    venue_node_config,
    with_credentials,
)


def main(argv: list[str] | None = None) -> int:
    """Print the validated Binance testnet config; run it with ``--connect``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="experiment TOML (default: the bundled demo experiment)")
    parser.add_argument("--registry", type=Path, default=Path("registry"), help="model registry")
    parser.add_argument("--model-version", default="demo-model", help="registered direction model")
    parser.add_argument(
        "--symbol", action="append", default=[], metavar="EXPERIMENT=VENUE", help="instrument id mapping"
    )
    parser.add_argument("--api-key-env", default=None, help="NAME of the API key variable")
    parser.add_argument("--api-secret-env", default=None, help="NAME of the API secret variable")
    parser.add_argument("--connect", action="store_true", help="connect and run the node on the testnet")
    args = parser.parse_args(argv)
    try:
        if args.config is not None:
            cfg = load_experiment(args.config)
            symbols = dict(item.split("=", 1) for item in args.symbol)
        else:
            from nautilus_ai.test_kit import demo_catalog, small_experiment

            catalog = demo_catalog(Path(tempfile.mkdtemp(prefix="venues-demo-")), symbols=("AAPL",))
            cfg = small_experiment(catalog, instruments=("AAPL.XNAS",))
            symbols = dict(item.split("=", 1) for item in args.symbol) or {"AAPL.XNAS": "BTCUSDT.BINANCE"}
        config = venue_node_config(
            cfg,
            "binance",
            registry_path=args.registry,
            model_version=args.model_version,
            symbols=symbols,
            api_key_env=args.api_key_env,
            api_secret_env=args.api_secret_env,
            testnet=True,
        )
        report = validate_venue_config(
            config, api_key_env=args.api_key_env, api_secret_env=args.api_secret_env
        )
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(json.loads(config.json()), indent=2, default=str))
    print(
        f"validated: venue {report.venue}, {report.components} components, instruments "
        f"{list(report.instruments)}; credential variables not set: {list(report.env_missing) or 'none'}"
    )
    if not args.connect:
        print("not connected (pass --connect to run the node on the Binance testnet)")
        return 0
    try:
        keyed = with_credentials(
            config, "binance", api_key_env=args.api_key_env, api_secret_env=args.api_secret_env, testnet=True
        )
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    node = build_venue_node(keyed)
    try:
        node.run()
    except KeyboardInterrupt:
        pass
    finally:
        node.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
