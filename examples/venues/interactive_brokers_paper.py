"""Build the Interactive Brokers paper-account node config of an experiment, validate it and print it.

Usage::

    python examples/venues/interactive_brokers_paper.py              # the bundled AAPL experiment
    python examples/venues/interactive_brokers_paper.py --config exp.toml --registry registry \
        --model-version aapl-direction-abc                           # AAPL.XNAS trades as AAPL.NASDAQ
    TWS_ACCOUNT=DU123456 python examples/venues/interactive_brokers_paper.py ... --connect

Without ``--connect`` nothing leaves this machine: the config is built from the experiment config (its
US equities mapped to IB's simplified symbology, ``AAPL.XNAS`` -> ``AAPL.NASDAQ``), checked by
:func:`nautilus_ai.live.venues.validate_venue_config` and printed as JSON. IB takes no API keys: the
login is the gateway's (IB Gateway or TWS, paper port 4002 by default); NautilusTrader reads the
account id from ``TWS_ACCOUNT``. With ``--connect`` the node runs against that gateway until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from nautilus_ai.config import load_experiment
from nautilus_ai.errors import ConfigError
from nautilus_ai.live.venues import build_venue_node, validate_venue_config, venue_node_config


def main(argv: list[str] | None = None) -> int:
    """Print the validated IB paper config; run it against the gateway with ``--connect``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="experiment TOML (default: the bundled AAPL experiment)")
    parser.add_argument("--registry", type=Path, default=Path("registry"), help="model registry")
    parser.add_argument("--model-version", default="demo-model", help="registered direction model")
    parser.add_argument(
        "--symbol", action="append", default=[], metavar="EXPERIMENT=VENUE", help="instrument id mapping"
    )
    parser.add_argument("--host", default="127.0.0.1", help="IB Gateway / TWS host")
    parser.add_argument("--port", type=int, default=None, help="gateway port (default 4002, paper)")
    parser.add_argument("--client-id", type=int, default=1, help="the API client id at the gateway")
    parser.add_argument("--connect", action="store_true", help="connect to the gateway and run the node")
    args = parser.parse_args(argv)
    try:
        if args.config is not None:
            cfg = load_experiment(args.config)
        else:
            from nautilus_ai.test_kit import demo_catalog, small_experiment

            catalog = demo_catalog(Path(tempfile.mkdtemp(prefix="venues-demo-")), symbols=("AAPL",))
            cfg = small_experiment(catalog, instruments=("AAPL.XNAS",))
        config = venue_node_config(
            cfg,
            "interactive_brokers",
            registry_path=args.registry,
            model_version=args.model_version,
            symbols=dict(item.split("=", 1) for item in args.symbol),
            testnet=True,  # IB's paper-trading gateway port
            ib_host=args.host,
            ib_port=args.port,
            ib_client_id=args.client_id,
        )
        report = validate_venue_config(config)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(json.loads(config.json()), indent=2, default=str))
    print(
        f"validated: venue {report.venue}, {report.components} components, instruments "
        f"{list(report.instruments)}; variables not set: {list(report.env_missing) or 'none'}"
    )
    if not args.connect:
        print("not connected (pass --connect to run the node against the IB gateway)")
        return 0
    node = build_venue_node(config)
    try:
        node.run()
    except KeyboardInterrupt:
        pass
    finally:
        node.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
