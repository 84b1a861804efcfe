"""The systems edgesim simulates, by name: the seed systems built in, and plug-ins.

A *system* is one package (``edgesim/systems/<name>/`` for the built-in ones) that plugs into
the core through a :class:`System` record and nothing else. The core (scenario schema, engine,
training run, report, CLI) reads this registry and never names a system:

* a **training** system (DEEPCON, Mercury, federated, CLUE, decentralized) owns the section
  ``training.<name>`` of a scenario (its pydantic model, ``section``) and the object that runs
  it (``runtime``: a :class:`edgesim.training.protocol.TrainingSystem`);
* a **serving** system (Distream, variant parallelism) adds placement policies (``policies``),
  job shapes (``jobs``: a job's ``shape`` -> the function that builds it) and sections of a
  request run's summary.json (``summary``).

Every reference is a ``"module:attribute"`` string, imported only when it is used, so this
module imports nothing of edgesim's and a plain request run loads no training code. A system
outside edgesim registers through the entry-point group ``edgesim.systems``: each entry point
names a :class:`System` (or a function returning one), and needs no edit here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, Optional

ENTRY_POINT_GROUP = "edgesim.systems"


@dataclass(frozen=True)
class System:
    """What one system plugs into edgesim (every callable as a ``"module:attribute"``)."""

    name: str                       # registry key; for a training system also its section key
    kind: str                       # "training" or "serving"
    description: str                # one line, for `edgesim systems` and the docs
    guide: str = ""                 # its guide, relative to docs/
    # training systems
    section: Optional[str] = None   # the pydantic model of `training.<name>`
    section_doc: Optional[str] = None   # the description of that key in the schema
    runtime: Optional[str] = None   # class(sim, spec) -> TrainingSystem
    report: Optional[str] = None    # report_rows(summary) -> [(label, value)] for `edgesim run`
    compare: Optional[str] = None   # compare(refs, ...) for `edgesim training compare`
    headline: Optional[str] = None  # headline(summary) -> {column: value}, a row of
    #                                 `edgesim training sweep` (default: the section's scalars)
    # serving systems
    policies: tuple = ()            # modules whose Policy subclasses it provides
    jobs: dict = field(default_factory=dict)    # job shape -> build function
    job_sections: dict = field(default_factory=dict)    # job shape -> its pydantic model
    summary: Optional[str] = None   # summary(sim) -> {key: section} added to summary.json

    def __post_init__(self) -> None:
        if self.kind not in ("training", "serving"):
            raise ValueError(f"system {self.name!r}: kind must be 'training' or 'serving', "
                             f"not {self.kind!r}")
        if self.kind == "training" and not (self.section and self.runtime):
            raise ValueError(f"training system {self.name!r} needs a section and a runtime")

    def load(self, what: str) -> Any:
        """The object that attribute ``what`` (e.g. ``"runtime"``) names, imported now."""
        ref = getattr(self, what)
        if ref is None:
            return None
        return resolve(ref)


def resolve(ref: str) -> Any:
    """The object a ``"module:attribute"`` string names."""
    module, _, attr = ref.partition(":")
    obj = import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


_S = "edgesim.systems"
#: The seed systems, in the order their sections appear in a scenario's `training:` key.
BUILTIN: tuple = (
    System("distream", "serving", "Distream: cross-camera workload balancing and stochastic "
           "DAG partitioning for live video analytics", guide="guides/distream.md",
           policies=(f"{_S}.distream.policies",)),
    System("vp", "serving", "Variant parallelism: ensemble inference that survives n-1 failed "
           "workers, and its baselines", guide="guides/vp.md",
           jobs={"ensemble": f"{_S}.vp.build:build_ensemble"},
           job_sections={"ensemble": f"{_S}.vp.schema:EnsembleSpec"},
           summary=f"{_S}.vp.metrics:summary_sections"),
    System("deepcon", "training", "DEEPCON: DMML, DMML-SP and DMML-Par multi-model training, "
           "the over-the-air loop and ASRS sampling", guide="guides/deepcon.md",
           section=f"{_S}.deepcon.schema:DeepconSpec",
           runtime=f"{_S}.deepcon.system:DeepconSystem",
           report=f"{_S}.deepcon.system:report_rows",
           headline=f"{_S}.deepcon.summary:headline"),
    System("mercury", "training", "Mercury: data-parallel SGD with importance sampling "
           "(sequential, BACC) and the TicTac and AdaComm baselines", guide="guides/mercury.md",
           section=f"{_S}.mercury.schema:MercurySpec",
           runtime=f"{_S}.mercury.system:MercurySystem",
           report=f"{_S}.mercury.system:report_rows",
           headline=f"{_S}.mercury.summary:headline"),
    System("federated", "training", "FedAvg and FedAce: federated learning with client "
           "importance sampling and compression", guide="guides/fedace.md",
           section=f"{_S}.fedace.schema:FederatedSpec",
           section_doc="FedAvg / FedAce with real learning (needs the 'learn' extra)",
           runtime=f"{_S}.fedace.system:FederatedSystem",
           report=f"{_S}.fedace.system:report_rows",
           compare=f"{_S}.fedace.compare:compare"),
    System("clue", "training", "CLUE: pull-based knowledge transfer against isolated learning "
           "and FedAvg push, on drifting request streams", guide="guides/clue.md",
           section=f"{_S}.clue.schema:ClueSpec",
           section_doc="CLUE's pull-based knowledge transfer, or its baselines (isolated "
                       "learning, FedAvg push), on drifting request streams, with real "
                       "learning (needs the 'learn' extra)",
           runtime=f"{_S}.clue.system:ClueSystem",
           report=f"{_S}.clue.system:report_rows",
           compare=f"{_S}.clue.compare:compare"),
    System("decentralized", "training", "Decentralized sub-model training over ring, mesh or "
           "any graph, against centralized training", guide="guides/decentralized.md",
           section=f"{_S}.decentralized.schema:DecentralizedSpec",
           section_doc="decentralized sub-model training over a ring, mesh or any connected "
                       "graph, or its centralized baseline, with real learning (needs the "
                       "'learn' extra)",
           runtime=f"{_S}.decentralized.system:DecentralizedSystem",
           report=f"{_S}.decentralized.system:report_rows"),
)

_systems: Optional[dict] = None


def _plugins() -> list:
    from importlib import metadata
    out = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        if callable(obj) and not isinstance(obj, System):
            obj = obj()
        if not isinstance(obj, System):
            raise TypeError(f"entry point {ep.name!r} in {ENTRY_POINT_GROUP} names "
                            f"{type(obj).__name__}, not an edgesim.registry.System")
        out.append(obj)
    return out


def systems() -> dict:
    """Every system by name: the built-in ones first, then the plug-ins by entry-point order."""
    global _systems
    if _systems is None:
        found: dict = {}
        for s in list(BUILTIN) + _plugins():
            if s.name in found:
                raise ValueError(f"two systems are named {s.name!r}")
            found[s.name] = s
        _systems = found
    return _systems


def get(name: str) -> System:
    """The system ``name``; KeyError naming the known ones otherwise."""
    found = systems()
    if name not in found:
        raise KeyError(f"no system {name!r}; known: {', '.join(found)}")
    return found[name]


def training_systems() -> dict:
    return {n: s for n, s in systems().items() if s.kind == "training"}


def serving_systems() -> dict:
    return {n: s for n, s in systems().items() if s.kind == "serving"}


def job_builder(shape: str):
    """The function that builds a job of ``shape``, from the system that provides it (None for
    the core's own shapes)."""
    for s in serving_systems().values():
        if shape in s.jobs:
            return resolve(s.jobs[shape])
    return None


def reset() -> None:
    """Forget what was discovered (tests that install a plug-in call it)."""
    global _systems
    _systems = None
