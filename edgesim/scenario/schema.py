"""The scenario file format: pydantic v2 models, every key checked, unknown keys rejected.

The models describe *what the user wrote*, with defaults filled in; turning names into objects
(groups into members, device names into catalogue entries, files into tables) happens in
the engine's build and check phases (`edgesim.engine.build`, `edgesim.network.build`), where cross-references can be reported.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (ConfigDict, create_model, Field, ValidationError, field_validator,
                      model_validator)
from pydantic_core import InitErrorDetails, PydanticCustomError

# the service-time models live in schema_service; re-exported, they are part of this module's API
from edgesim.scenario.schema_service import (Calibrated, CalibrationSpec, Constant, Empirical,  # noqa: F401
                             Exponential, Lognormal, Profile, ServiceSpec)
from edgesim.registry import resolve, serving_systems
from edgesim.scenario.strict import Strict
from edgesim.scenario.training_schema import TrainingSpec
from edgesim.scenario.types import Bandwidth, Duration, Fraction, Rate, Size

SCHEMA_VERSION = 1




# --------------------------------------------------------------------------- hardware

class DeviceSpec(Strict):
    """An inline device (or an override of a catalogue entry via `base`)."""

    base: Optional[str] = Field(None, description="catalogue entry this device starts from")
    kind: Optional[Literal["cpu", "gpu", "accelerator", "phone", "camera", "iot"]] = None
    executors: Optional[int] = Field(None, ge=1, le=65_536,
                                     description="parallel executors (GPUs, cores)")
    description: Optional[str] = None
    peak_flops: Optional[float] = Field(None, gt=0, description="peak FLOP/s, for transfer")
    mem_bandwidth: Optional[Bandwidth] = None


Role = Literal["camera", "edge", "cloud", "phone", "iot", "server", "client", "worker", "master",
               "parameter-server"]


class NodeSpec(Strict):
    """A group of identical nodes; `count` expands `cam` into cam0..cam{count-1}."""

    count: int = Field(1, ge=1, le=100_000)
    role: Role = "server"
    device: Union[str, dict[str, int]] = Field(
        "cpu", description="device of every member, or a mix in member order, e.g. "
                           "{jetson-tx1: 18, jetson-tx2: 6} (counts sum to 'count')")
    # Each executor is an object of the engine and a row of the recorder: 3e9 of them once
    # passed `check` and died in the recorder after the run.
    executors: Optional[int] = Field(None, ge=1, le=65_536,
                                     description="default: the device's executors")
    queue: Literal["fifo", "lifo", "priority"] = "fifo"
    capacity: Optional[int] = Field(None, ge=0, description="waiting room; arrivals beyond are dropped")
    max_batch: int = Field(1, ge=1, le=4096)
    max_wait: Duration = Field(0.0, ge=0, description="a partial batch starts once its oldest "
                                                      "request has waited this long")


class TraceRef(Strict):
    """A bandwidth trace that a link's or a cell's capacity follows (piecewise constant)."""

    file: str = Field(description="path relative to the scenario file")
    format: Literal["auto", "mahimahi", "mbps", "csv-bps", "canonical", "5gophers"] = "auto"
    end: Literal["loop", "hold"] = Field("loop", description="after the trace ends: repeat it, "
                                                             "or hold its last value")
    scale: float = Field(1.0, gt=0, description="multiplier applied to every value")
    column: Optional[str] = Field(None, description="column to read (5gophers files)")


class LinkSpec(Strict):
    """A wired link between two endpoints (a node, a group: one link per member, or a switch)."""

    ends: tuple[str, str]
    bandwidth: Bandwidth = Field(gt=0)
    latency: Duration = Field(0.0, ge=0, le=1e6)
    up: Optional[Bandwidth] = Field(None, gt=0, description="capacity from ends[0] to ends[1]")
    down: Optional[Bandwidth] = Field(None, gt=0, description="capacity from ends[1] to ends[0]")
    trace: Optional[TraceRef] = Field(None, description="capacity follows this trace (both "
                                                        "directions) instead of 'bandwidth'")


class CellSpec(Strict):
    """A Wi-Fi cell: stations associated with one access point share one medium."""

    ap: str = Field(description="access point name; link it to the wired side under 'links'")
    stations: Union[str, list[str]] = Field(description="nodes or groups associated with the AP")
    standard: Literal["802.11a", "802.11b", "802.11g", "802.11n", "802.11ac"] = "802.11n"
    mode: Literal["dcf", "fair-share"] = Field(
        "dcf", description="'dcf': Bianchi saturation capacity shared throughput-fair (the "
                           "802.11 performance anomaly); 'fair-share': equal airtime")
    phy_rate: Optional[Bandwidth] = Field(None, gt=0, description="PHY data rate of every "
                                                                  "station (default: the standard's)")
    rates: dict[str, Bandwidth] = Field(default_factory=dict,
                                        description="per-station PHY rate overrides")
    payload: Size = Field(1500.0, gt=0, description="MAC payload per frame")
    latency: Duration = Field(0.001, ge=0, le=1e6, description="station <-> AP latency")
    trace: Optional[TraceRef] = Field(None, description="aggregate capacity follows this trace, "
                                                        "split among active stations as 'mode' says")


class RouteSpec(Strict):
    src: str = Field(alias="from")
    dst: str = Field(alias="to")
    via: list[str] = Field(min_length=1, description="the nodes, switches and APs in between")


class NetworkSpec(Strict):
    routes: list[RouteSpec] = Field(default_factory=list, description="pinned routes")
    flow_window: Optional[Size] = Field(None, gt=0, description="per-flow cap = window / RTT "
                                                               "(RTT = twice the route latency)")
    rpc_overhead: Duration = Field(0.0, ge=0, description="fixed cost of each message "
                                                          "(Distream measured 2.1 ms)")
    header_bytes: Size = Field(0.0, ge=0, description="bytes added to each message")
    rpc_batch: int = Field(20, ge=1, description="messages that may share one RPC overhead")
    max_in_flight: Optional[int] = Field(
        None, ge=1, description="messages one connection (source node -> destination node) "
                                "carries at once; the rest wait in order. Default: unlimited, "
                                "every transfer is its own concurrent flow")
    batch_messages: bool = Field(False, description="with max_in_flight: messages waiting on a "
                                 "connection leave together, up to rpc_batch per RPC (one "
                                 "overhead and one header each)")
    on_outage: Literal["pause", "fail"] = Field("pause", description="flows on a link that "
                                                "goes down wait and resume, or fail")
    transfers: bool = Field(False, description="record every transfer in transfers.parquet")


# --------------------------------------------------------------------------- workload

class Poisson(Strict):
    process: Literal["poisson"]
    rate: Rate = Field(gt=0)


class Deterministic(Strict):
    process: Literal["deterministic"]
    rate: Rate = Field(gt=0, description="events per second; '30fps' works")
    offset: Duration = Field(0.0, ge=0, description="time of the first arrival")


class OnOff(Strict):
    process: Literal["onoff"]
    rate: Rate = Field(gt=0, description="Poisson rate while on")
    rate_off: Rate = Field(0.0, ge=0, description="Poisson rate while off")
    on: Duration = Field(gt=0, description="mean on period")
    off: Duration = Field(gt=0, description="mean off period")
    periods: Literal["exponential", "deterministic"] = "exponential"


class MMPP(Strict):
    process: Literal["mmpp"]
    rates: list[Rate] = Field(min_length=2, description="Poisson rate in each state")
    sojourn: list[Duration] = Field(min_length=2, description="mean time in each state")
    transitions: Optional[list[list[float]]] = Field(
        None, description="next-state probabilities (rows sum to 1, zero diagonal); "
                          "default: cycle through the states in order")

    @model_validator(mode="after")
    def _shapes(self) -> "MMPP":
        n = len(self.rates)
        if len(self.sojourn) != n:
            raise ValueError(f"sojourn has {len(self.sojourn)} entries but rates has {n}")
        if any(s <= 0 for s in self.sojourn):
            raise ValueError("every sojourn time must be > 0")
        if not any(r > 0 for r in self.rates):
            raise ValueError("at least one rate must be > 0")
        if self.transitions is not None:
            if len(self.transitions) != n or any(len(r) != n for r in self.transitions):
                raise ValueError(f"transitions must be a {n}x{n} matrix")
            for i, row in enumerate(self.transitions):
                if any(p < 0 for p in row) or abs(sum(row) - 1.0) > 1e-9 or row[i] != 0:
                    raise ValueError(f"transitions row {i} must be probabilities summing to 1 "
                                     "with a zero diagonal")
        return self


class TraceArrivals(Strict):
    process: Literal["trace"]
    file: str = Field(description="path relative to the scenario file")
    format: Literal["times", "counts"] = Field(
        "times", description="'times': one arrival time (s) per row; 'counts': arrivals per interval")
    column: Optional[Union[str, int]] = Field(
        None, description="CSV column to read (name or index); '@member' gives each member of "
                          "the source's group the column named after it (cam0, cam1, ...)")
    interval: Duration = Field(1.0, gt=0, description="interval length for 'counts' (a frame "
                                                      "interval, e.g. 100ms at 10 fps)")
    spread: Literal["uniform", "even", "burst"] = Field(
        "uniform", description="how counts are placed inside their interval: at random, evenly, "
                               "or all at its start (the ROIs of one video frame)")
    scale: float = Field(1.0, gt=0, description="time scale for 'times', count scale for 'counts'")
    loop: bool = False


Arrivals = Annotated[Union[Poisson, Deterministic, OnOff, MMPP, TraceArrivals],
                     Field(discriminator="process")]


class AggregateSpec(Strict):
    """An approximation for large fleets: several arrivals travel as one request event.

    The arrivals of one window (its first arrival and every later one within ``window``, up to
    ``max_units``) become one request carrying ``units`` of work: each stage moves ``units``
    times its bytes, a node counts its units toward ``max_batch`` and serves the batch's units
    in one call, and the requests table gains a ``units`` column. The summary counts arrivals:
    its latency, wait, SLO miss rate and throughput weigh each request by its units (so they
    compare with an unaggregated run's), ``requests.units`` counts arrivals by outcome, and
    the other request counts and Little's law count events. ``window: 0`` merges only
    arrivals at the same instant (the ROIs of one video frame under ``spread: burst``); a
    longer window also merges later frames: the event enters the system at its units' mean
    arrival time, so its latency is their mean latency, but the units travel and are served
    as one lump. docs/performance.md measures the error against the unaggregated run."""

    window: Duration = Field(0.0, ge=0, le=3600, description="arrivals this long after the "
                             "first of an event join it (0: only those at the same instant)")
    max_units: int = Field(8, ge=1, le=4096, description="arrivals one event carries at most "
                           "(the lump size: it, more than the window, sets the error)")


class SourceSpec(Strict):
    at: Optional[str] = Field(None, description="node or group where requests originate; "
                                                "a group gives one independent source per member")
    arrivals: Arrivals
    job: str
    priority: int = Field(0, description="higher is served first on 'priority' queues")
    limit: Optional[int] = Field(None, ge=0, description="stop after this many requests")
    aggregate: Optional[AggregateSpec] = Field(
        None, description="carry several arrivals as one request event (an approximation "
                          "for fleets; see docs/performance.md)")


class StageSpec(Strict):
    model: str
    node: Optional[Union[str, list[str]]] = Field(
        None, description="node, group, or list of them; '@origin': the node the request came "
                          "from; omitted: any node serving the model")
    bytes: Size = Field(0.0, ge=0, description="bytes moved to this stage from the previous place")


class VertexSpec(Strict):
    """One classifier of a DAG job (Distream's Fig. 1.1)."""

    model: str
    node: Optional[Union[str, list[str]]] = Field(
        None, description="node, group, or list of them; '@origin': the node the request came "
                          "from; omitted: any node serving the model")
    bytes: Size = Field(0.0, ge=0, description="bytes moved to this vertex from the previous place")
    next: dict[str, float] = Field(
        default_factory=dict, description="successor -> probability that a request takes it; "
                                          "probabilities sum to at most 1 (the rest stops here)")

    @field_validator("next")
    @classmethod
    def _probabilities(cls, v: dict[str, float]) -> dict[str, float]:
        if any(p < 0 or p > 1 for p in v.values()):
            raise ValueError("each probability must be between 0 and 1")
        if sum(v.values()) > 1 + 1e-9:
            raise ValueError(f"probabilities sum to {sum(v.values()):g}, more than 1")
        return v


class _JobFields(Strict):
    """A job: a sequence of `stages`, a `dag` of classifiers in which each request follows
    one execution path, its branches drawn with the given probabilities, or a shape that a
    system provides (variant parallelism's `ensemble`)."""

    stages: Optional[list[StageSpec]] = Field(None, min_length=1)
    dag: Optional[dict[str, VertexSpec]] = Field(None, min_length=1)
    entry: Optional[str] = Field(None, description="the DAG's first vertex (default: the first "
                                                   "listed)")
    result_bytes: Size = Field(0.0, ge=0, description="bytes returned to the origin at the end")
    timeout: Optional[Duration] = Field(None, gt=0, description="a request older than this when "
                                                                "it would start service times out")
    accuracy: Optional[Fraction] = Field(None, description="expected accuracy of a completed "
                                         "request (stages and dag jobs; an ensemble's goes under "
                                         "ensemble.accuracy)")


class _JobBase(Strict):
    @model_validator(mode="after")
    def _one_shape(self) -> "_JobBase":
        shapes = ["stages", "dag"] + list(SHAPES)
        if sum(getattr(self, x) is not None for x in shapes) != 1:
            raise ValueError("give exactly one of " + ", ".join(f"'{x}'" for x in shapes[:-1])
                             + f" or '{shapes[-1]}'")
        if self.entry is not None and self.dag is None:
            raise ValueError("'entry' belongs with 'dag'")
        for shape in SHAPES:
            section = getattr(self, shape)
            for key, why in (getattr(section, "job_conflicts", None) or {}).items():
                if section is not None and getattr(self, key):
                    raise ValueError(why)
        return self


def _job_model() -> type:
    """JobSpec: the core's shapes (stages, dag) and those of the serving systems in the
    registry, in that order, then the keys every shape shares."""
    shapes = {}
    for system in serving_systems().values():
        for shape, ref in system.job_sections.items():
            shapes[shape] = (Optional[resolve(ref)], None)
    core = {n: (f.annotation, f) for n, f in _JobFields.model_fields.items()}
    fields = {"stages": core.pop("stages"), "dag": core.pop("dag"), **shapes, **core}
    model = create_model("JobSpec", __base__=_JobBase, **fields)
    model.__doc__ = _JobFields.__doc__
    return model, tuple(shapes)


JobSpec, SHAPES = _job_model()


class WorkloadSpec(Strict):
    sources: dict[str, SourceSpec] = Field(min_length=1)
    jobs: dict[str, JobSpec] = Field(min_length=1)


# --------------------------------------------------------------------------- the rest

EPISODE_KINDS = ("outage", "crash", "slowdown", "preemption")
PROBABILITY_KINDS = ("fault", "loss")
NODE_KINDS = ("crash", "slowdown", "preemption", "fault")
TimeDist = Literal["exponential", "weibull", "lognormal", "deterministic"]


class FailureSpec(Strict):
    """Something that goes wrong. Episodes (down and back up) of a link or cell (`outage`) or
    of a node (`crash`, `slowdown`, `preemption`) come from a schedule, a trace, or alternating
    times drawn around `mtbf` and `mttr`; `fault` (per query, on nodes) and `loss` (per
    message, on links and cells) happen independently with a `probability`."""

    target: str = Field(description="a link or cell name (outage, loss: all its members), or a "
                                    "node or group name (crash, slowdown, preemption, fault: "
                                    "every member independently)")
    kind: Literal["outage", "crash", "slowdown", "preemption", "fault", "loss"]
    schedule: Optional[list[tuple[Duration, Duration]]] = Field(
        None, description="[down_at, up_at] pairs")
    mtbf: Optional[Duration] = Field(None, gt=0, description="mean time between failures: the "
                                     "mean up time between episodes")
    mttr: Optional[Duration] = Field(None, gt=0, description="mean time to repair: the mean "
                                     "length of an episode")
    up_dist: TimeDist = Field("exponential", description="distribution of up times (mean mtbf)")
    down_dist: TimeDist = Field("exponential", description="distribution of episode lengths "
                                                           "(mean mttr)")
    shape: float = Field(1.0, gt=0, le=100, description="Weibull shape k of the 'weibull' "
                                                        "distributions (1: exponential)")
    cv: float = Field(1.0, gt=0, le=100, description="coefficient of variation of the "
                                                     "'lognormal' distributions")
    trace: Optional[str] = Field(None, description="file of 'down_at up_at' rows (seconds)")
    mode: Optional[Literal["pause", "fail"]] = Field(
        None, description="outage: flows on the target wait or fail (default: "
                          "network.on_outage); preemption: the batches it interrupts resume "
                          "afterwards or fail (default: pause)")
    sensor: Optional[Literal["attached", "separate"]] = Field(
        None, description="crash: 'attached' (the default): the node's own sources (a camera's "
                          "sensor) make no arrivals while it is down; 'separate': they go on, "
                          "and their requests fail on arrival or go elsewhere")
    factor: Optional[float] = Field(None, gt=0, le=1e6, description="slowdown: service times "
                                    "are multiplied by this while an episode lasts")
    probability: Optional[Fraction] = Field(
        None, description="fault: chance that a node fails a request that reaches it; loss: "
                          "chance that a message crossing the target is lost")

    @model_validator(mode="after")
    def _one_timing(self) -> "FailureSpec":
        given = [self.schedule is not None, self.mtbf is not None or self.mttr is not None,
                 self.trace is not None]
        if self.kind in PROBABILITY_KINDS:
            if self.probability is None:
                raise ValueError(f"a '{self.kind}' failure needs 'probability'")
            if any(given):
                raise ValueError(f"a '{self.kind}' failure happens per "
                                 f"{'request' if self.kind == 'fault' else 'message'} with "
                                 "'probability'; 'schedule', 'mtbf'/'mttr' and 'trace' do not "
                                 "apply")
        else:
            if self.probability is not None:
                raise ValueError(f"'probability' belongs with kind 'fault' or 'loss', not "
                                 f"'{self.kind}'")
            if sum(given) != 1:
                raise ValueError("give exactly one of 'schedule', 'mtbf' with 'mttr', or 'trace'")
            if (self.mtbf is None) != (self.mttr is None):
                raise ValueError("'mtbf' and 'mttr' go together")
        if (self.factor is None) == (self.kind == "slowdown"):
            raise ValueError("a 'slowdown' needs 'factor'" if self.kind == "slowdown" else
                             f"'factor' belongs with kind 'slowdown', not '{self.kind}'")
        if self.sensor is not None and self.kind != "crash":
            raise ValueError(f"'sensor' belongs with kind 'crash', not '{self.kind}'")
        if self.mode is not None and self.kind not in ("outage", "preemption"):
            raise ValueError(f"'mode' belongs with kind 'outage' or 'preemption', not "
                             f"'{self.kind}'")
        for down, up in self.schedule or []:
            if up <= down:
                raise ValueError(f"an episode must end after it starts: [{down}, {up}]")
        return self


class PolicySpec(Strict):
    name: str = "static"
    params: dict[str, Any] = Field(default_factory=dict)
    report_interval: Duration = Field(0.05, gt=0, description="monitor view refresh period")


class MetricsSpec(Strict):
    slo: Optional[Duration] = Field(None, gt=0, description="latency SLO for the miss rate")
    interval: Duration = Field(1.0, gt=0, description="time-series sampling interval")
    window: Duration = Field(1.0, gt=0, description="window for throughput statistics")
    stream_rows: Optional[int] = Field(
        None, ge=100, le=100_000_000, description="write requests.parquet while the run goes, "
        "one row group per this many finished requests, instead of holding the table in "
        "memory (rows then in finishing order; the summary keeps 26 bytes a request)")


class Scenario(Strict):
    """An edgesim scenario file."""

    # For editors: 'workload' and 'service' are required unless there is a 'training' section.
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["workload", "service"]}, {"required": ["training"]}]})

    name: str = "scenario"
    description: str = ""
    seed: int = Field(0, ge=0, lt=2**63)
    duration: Duration = Field(gt=0, description="simulated time to run")
    warmup: Duration = Field(0.0, ge=0, description="initial time excluded from statistics")
    max_completions: Optional[int] = Field(None, ge=1, description="stop after this many")
    devices: dict[str, DeviceSpec] = Field(default_factory=dict)
    nodes: dict[str, NodeSpec] = Field(min_length=1)
    switches: list[str] = Field(default_factory=list)
    links: dict[str, LinkSpec] = Field(default_factory=dict)
    cells: dict[str, CellSpec] = Field(default_factory=dict, description="Wi-Fi cells")
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    workload: Optional[WorkloadSpec] = Field(None, description="required unless the scenario "
                                             "has a 'training' section")
    service: Optional[dict[str, Annotated[dict[str, ServiceSpec], Field(min_length=1)]]] = Field(
        None, description="model -> device (or '*') -> service-time model; required unless the "
                          "scenario has a 'training' section")
    calibration: CalibrationSpec = Field(default_factory=CalibrationSpec)
    failures: list[FailureSpec] = Field(default_factory=list)
    policy: PolicySpec = Field(default_factory=PolicySpec)
    metrics: MetricsSpec = Field(default_factory=MetricsSpec)
    training: Optional[TrainingSpec] = Field(None, description="train models instead of serving "
                                             "a workload (one training system)")

    @model_validator(mode="wrap")
    @classmethod
    def _workload_unless_training(cls, data: Any, handler: Any) -> "Scenario":
        # 'workload' and 'service' are optional only for training scenarios. Reported as located
        # "missing" problems alongside every other problem of the file, not one at a time.
        missing = []
        if isinstance(data, dict) and data.get("training") is None:
            missing = [k for k in ("workload", "service") if data.get(k) is None]
        if not missing:
            return handler(data)
        errors: list = []
        try:
            handler(data)
        except ValidationError as exc:
            errors = [InitErrorDetails(type=e["type"], loc=e["loc"], input=e["input"],
                                       **({"ctx": e["ctx"]} if "ctx" in e else {}))
                      for e in exc.errors(include_url=False)]
        errors += [InitErrorDetails(type=PydanticCustomError(
            "missing_unless_training", "required key is missing (only a scenario with a "
            "'training' section may leave it out)"), loc=(k,), input=data) for k in missing]
        raise ValidationError.from_exception_data(cls.__name__, errors)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("switches")
    @classmethod
    def _switches(cls, v: list[str]) -> list[str]:
        twice = sorted({s for s in v if v.count(s) > 1})
        if twice:
            raise ValueError(f"switch {twice[0]!r} is listed more than once")
        return v
