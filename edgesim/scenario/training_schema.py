"""The `training:` section of a scenario: one key per training system in
:mod:`edgesim.registry`, each holding that system's own section model (which lives in the
system's package, e.g. :mod:`edgesim.systems.mercury.schema`). A scenario gives exactly one.

The model is built from the registry, not written here, so a system (a plug-in too) brings its
section with it and this module names none.
"""
from __future__ import annotations

from typing import Any, Optional

from pydantic import Field, create_model, model_validator

from edgesim.registry import training_systems
from edgesim.scenario.strict import Strict


class _TrainingBase(Strict):
    """Give exactly one system."""

    @model_validator(mode="after")
    def _one_system(self) -> "_TrainingBase":
        names = list(type(self).model_fields)
        given = [k for k in names if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of " + ", ".join(repr(k) for k in names)
                             + (f"; got {', '.join(given)}" if given else ""))
        return self

    @property
    def system(self) -> str:
        """The name of the one system given."""
        return next(k for k in type(self).model_fields if getattr(self, k) is not None)

    def section(self) -> Any:
        """The given system's section."""
        return getattr(self, self.system)


def _build() -> type:
    fields: dict = {}
    for name, system in training_systems().items():
        model = system.load("section")
        fields[name] = (Optional[model], Field(None, description=system.section_doc)
                        if system.section_doc else None)
    model = create_model("TrainingSpec", __base__=_TrainingBase, **fields)
    model.__doc__ = _TrainingBase.__doc__
    return model


TrainingSpec = _build()
SYSTEMS = tuple(TrainingSpec.model_fields)

__all__ = ["TrainingSpec", "SYSTEMS"]
