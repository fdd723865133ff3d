"""``/learning``: model versions and tuning studies; promote, rollback and retrain by control command."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel

from nautilus_ai.api.auth import Principal
from nautilus_ai.api.deps import CommandResult, require, send_command, services
from nautilus_ai.api.problems import ProblemError, problem_responses
from nautilus_ai.errors import ModelError
from nautilus_ai.learning.registry import ModelRegistry
from nautilus_ai.live.control import RetrainArgs, RollbackArgs

router = APIRouter(
    prefix="/learning", tags=["learning"], responses=problem_responses(401, 403, 422, 429, 503)
)
read = [Depends(require("read"))]
_COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": CommandResult},
    **problem_responses(409, 502),
}
VersionId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._\-]+$")]


class ModelOut(BaseModel):
    """One registered model version."""

    version_id: str
    name: str
    created_at: str
    sha256: str
    spec_hash: str
    feature_names: list[str]
    train_start: str
    train_end: str
    seed: int
    params: dict[str, Any]
    metrics: dict[str, Any]
    status: str
    parent: str | None
    code_version: str
    oos_metrics: dict[str, Any]


class PromoteBody(BaseModel):
    """Options of a promotion."""

    force: bool = False
    """Promote even when the promotion gate fails (needs ``reason``)."""
    reason: str | None = None
    """Why, for the registry's event log."""


class StudyOut(BaseModel):
    """A tuning study."""

    name: str
    directions: list[str]
    n_trials: int
    best_values: list[float] | None
    best_params: dict[str, Any] | None


def _registry(request: Request) -> ModelRegistry:
    settings = services(request).settings
    if settings.registry_root is None:
        raise ProblemError(404, "no model registry configured (settings.registry_root)", "not-found")
    return ModelRegistry(settings.registry_root, settings.registry_index_url)


@router.get("/models", response_model=list[ModelOut], dependencies=read, responses=problem_responses(404))
def list_models(
    request: Request, name: Annotated[str | None, Query(min_length=1, max_length=128)] = None
) -> list[dict[str, Any]]:
    """Return every registered version (of one model family when given), oldest first."""
    return [record.to_dict() for record in _registry(request).list(name)]


@router.get(
    "/models/{version_id}", response_model=ModelOut, dependencies=read, responses=problem_responses(404)
)
def get_model(request: Request, version_id: VersionId) -> dict[str, Any]:
    """Return one registered version."""
    try:
        return _registry(request).get(version_id).to_dict()
    except ModelError as error:
        raise ProblemError(404, str(error), "not-found") from None


@router.post("/models/{version_id}/promote", response_model=CommandResult, responses=_COMMAND_RESPONSES)
def promote(
    request: Request,
    response: Response,
    version_id: VersionId,
    body: PromoteBody,
    principal: Annotated[Principal, Depends(require("admin"))],
) -> CommandResult:
    """Make a version champion through the node (promotion gate included; admin)."""
    args = {"version_id": version_id, "force": body.force, "reason": body.reason}
    if body.force and not body.reason:
        raise ProblemError(422, "force needs a reason", "validation-error")
    return send_command(services(request), principal, "promote", args, response)


@router.post("/rollback", response_model=CommandResult, responses=_COMMAND_RESPONSES)
def rollback(
    request: Request,
    response: Response,
    body: RollbackArgs,
    principal: Annotated[Principal, Depends(require("admin"))],
) -> CommandResult:
    """Restore a model family's previous champion through the node (admin)."""
    return send_command(services(request), principal, "rollback", body.model_dump(mode="json"), response)


@router.post("/retrain", response_model=CommandResult, responses=_COMMAND_RESPONSES)
def retrain(
    request: Request,
    response: Response,
    body: RetrainArgs,
    principal: Annotated[Principal, Depends(require("admin"))],
) -> CommandResult:
    """Ask the node to retrain its models (admin)."""
    return send_command(services(request), principal, "retrain", body.model_dump(mode="json"), response)


@router.get("/studies", response_model=list[StudyOut], dependencies=read)
def list_studies(request: Request) -> list[StudyOut]:
    """Return the tuning studies of the configured Optuna storage (empty without one)."""
    storage = services(request).settings.tuning_storage
    if storage is None:
        return []
    import optuna

    studies = []
    for summary in optuna.study.get_all_study_summaries(storage=storage, include_best_trial=True):
        best = summary.best_trial
        studies.append(
            StudyOut(
                name=summary.study_name,
                directions=[d.name for d in summary.directions],
                n_trials=summary.n_trials,
                best_values=list(best.values) if best is not None and best.values is not None else None,
                best_params=dict(best.params) if best is not None else None,
            )
        )
    return studies
