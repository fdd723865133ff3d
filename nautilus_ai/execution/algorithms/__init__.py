"""NautilusTrader ``ExecAlgorithm``s of nautilus-ai: TWAP, VWAP, iceberg and percent-of-volume.

Route a parent order to one with ``exec_algorithm_id=ExecAlgorithmId("TWAP" | "VWAP" | "ICEBERG" |
"POV")`` and its parameters in ``exec_algorithm_params`` (see each module); add the algorithm to the
engine with ``engine.add_exec_algorithm(TWAPAlgorithm())`` or an ``ImportableExecAlgorithmConfig``.
Each keeps a :class:`ParentExecution` per parent in ``algorithm.executions``.
"""

from nautilus_ai.execution.algorithms.base import (
    ChildFill,
    ParentAlgorithm,
    ParentExecution,
    SlicingAlgorithmConfig,
)
from nautilus_ai.execution.algorithms.iceberg import IcebergAlgorithm, IcebergConfig
from nautilus_ai.execution.algorithms.pov import POVAlgorithm, POVConfig
from nautilus_ai.execution.algorithms.twap import TWAPAlgorithm, TWAPConfig
from nautilus_ai.execution.algorithms.vwap import VWAPAlgorithm, VWAPConfig

__all__ = [
    "ChildFill",
    "IcebergAlgorithm",
    "IcebergConfig",
    "POVAlgorithm",
    "POVConfig",
    "ParentAlgorithm",
    "ParentExecution",
    "SlicingAlgorithmConfig",
    "TWAPAlgorithm",
    "TWAPConfig",
    "VWAPAlgorithm",
    "VWAPConfig",
]
