"""The timed model of a learning system (`timed:`): resolved against the zoo, and the closed
forms that carry the learned model's state (its kept weights) over to the bytes the timed
model puts on the wire."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from edgesim.hardware.model_sizes import UnknownModelError, model_size

__all__ = ["TimedModel", "resolve_timed", "wire_nonzero", "models_section"]


@dataclass(frozen=True)
class TimedModel:
    model: str
    params: int
    source: str             # "zoo" or "given"


def resolve_timed(sim, spec, path: str) -> Optional[TimedModel]:
    """The scenario's timed model (a TimedModelSpec at ``path``), None when it names none or
    after a recorded problem (an unknown zoo name, with the nearest ones)."""
    if spec is None:
        return None
    if spec.params is not None:
        return TimedModel(spec.model, int(spec.params), "given")
    try:
        return TimedModel(spec.model, model_size(spec.model).params, "zoo")
    except UnknownModelError as exc:
        sim.problem(f"{path}.model", f"{exc}; or give `params`", spec.model)
        return None


def wire_nonzero(nonzero: int, learned_params: int, wire_params: int) -> int:
    """The timed model's kept weights when the learned model keeps ``nonzero`` of
    ``learned_params``: the same fraction, rounded (exactly ``nonzero`` when the two models
    are one)."""
    if wire_params == learned_params:
        return int(nonzero)
    return int(round(nonzero * wire_params / learned_params))


def models_section(timed: Optional[TimedModel], learned_name: str, learned_params: int) -> dict:
    """summary.json's record of which model was timed and which learned."""
    return {"learned_model": {"model": learned_name, "params": int(learned_params)},
            "timed_model": ({"model": timed.model, "params": timed.params,
                             "source": timed.source} if timed is not None else
                            {"model": learned_name, "params": int(learned_params),
                             "source": "learned"})}
