"""The API sidecar's settings: one frozen pydantic model, read from a TOML file and the environment.

A TOML file holds an ``[api]`` table (or the fields at top level); environment variables
``NAUTILUS_AI_API_<FIELD>`` (upper case) override it. Unknown keys are errors.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nautilus_ai.errors import ConfigError
from nautilus_ai.live.control import DEFAULT_STREAM_PREFIX

ENV_PREFIX = "NAUTILUS_AI_API_"
"""The prefix of the environment variables that override settings."""


class ApiSettings(BaseModel):
    """Where the sidecar reads state, where it stores keys, and how it protects itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    redis_url: str = "redis://127.0.0.1:6379/0"
    """The Redis server holding the node's cache, the mirrored state and the control streams."""
    trader_id: str = Field(default="PAPER-001", min_length=1)
    """The node's trader id."""
    state_prefix: str = Field(default="nautilus_ai", min_length=1)
    """The key prefix of the state mirrored by ``RedisPublisherActor``."""
    feature_prefix: str = Field(default="nautilus_ai", min_length=1)
    """The key prefix of the online feature store."""
    cache_encoding: Literal["json", "msgpack"] = "msgpack"
    """How the node encodes its cache (``CacheConfig.encoding``)."""
    control_stream_prefix: str = Field(default=DEFAULT_STREAM_PREFIX, min_length=1)
    """The prefix of the control streams."""
    command_timeout_s: float = Field(default=5.0, gt=0.0, le=120.0)
    """How long a write route waits for the node's ack before answering 202 (pending)."""
    key_store: Path = Path("api_keys.sqlite")
    """The SQLite file of hashed API keys."""
    registry_root: Path | None = None
    """The model registry directory (``/learning`` answers 404 without one)."""
    registry_index_url: str | None = None
    """The registry index (default: ``<registry_root>/index.sqlite``)."""
    tuning_storage: str | None = None
    """The Optuna storage URL of the tuning studies (``/learning/studies`` is empty without one)."""
    rate_limit_capacity: int = Field(default=120, ge=1)
    """Token bucket size per API key (the burst)."""
    rate_limit_refill_per_s: float = Field(default=2.0, gt=0.0)
    """Tokens added per second per API key (the sustained rate)."""
    rate_limit_prefix: str = Field(default="nautilus_ai:api:ratelimit", min_length=1)
    """The key prefix of the token buckets in Redis (shared by all workers)."""
    cors_origins: tuple[str, ...] = ()
    """Origins allowed by CORS (none: CORS off)."""
    history_limit: int = Field(default=1000, ge=1, le=100_000)
    """The largest ``limit`` a history route accepts."""
    runs_root: Path | None = None
    """Folder of walk-forward run folders listed on the dashboard's runs page (``--out`` of the CLI)."""
    experiment_config: Path | None = None
    """Experiment config (TOML) of the node, drawn as the dashboard's live system map."""

    @classmethod
    def from_mapping(cls, data: dict[str, Any], source: str = "<settings>") -> ApiSettings:
        """Return settings from a mapping (raises ConfigError naming the field)."""
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"{source}: api.{field}: {first['msg']}") from None

    @classmethod
    def load(cls, path: Path | str | None = None, environ: dict[str, str] | None = None) -> ApiSettings:
        """Return settings from the TOML file ``path`` (optional), overridden by the environment.

        Raises
        ------
        ConfigError
            If the file is missing or not TOML, or a value is invalid or unknown.

        """
        data: dict[str, Any] = {}
        source = "<environment>"
        if path is not None:
            source = str(path)
            try:
                raw = tomllib.loads(Path(path).read_text())
            except FileNotFoundError:
                raise ConfigError(f"{path}: settings file not found") from None
            except tomllib.TOMLDecodeError as error:
                raise ConfigError(f"{path}: not valid TOML: {error}") from None
            data = dict(raw.get("api", raw))
        env = os.environ if environ is None else environ
        for name in cls.model_fields:
            value = env.get(ENV_PREFIX + name.upper())
            if value is not None:
                data[name] = [v for v in value.split(",") if v] if name == "cors_origins" else value
        return cls.from_mapping(data, source)
