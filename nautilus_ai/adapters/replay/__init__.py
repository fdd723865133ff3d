"""Offline live data: a NautilusTrader data client that replays a ParquetDataCatalog (see :mod:`.client`)."""

from nautilus_ai.adapters.replay.client import (
    REPLAY_CLIENT_ID,
    REPLAY_STATUS_TOPIC,
    ReplayDataClient,
    ReplayDataClientConfig,
    ReplayDataClientFactory,
    ReplayStatus,
    find_replay_client,
    load_replay_items,
)

__all__ = [
    "REPLAY_CLIENT_ID",
    "REPLAY_STATUS_TOPIC",
    "ReplayDataClient",
    "ReplayDataClientConfig",
    "ReplayDataClientFactory",
    "ReplayStatus",
    "find_replay_client",
    "load_replay_items",
]
