"""The Distream policies' parameters (``policy.params``): roles, the balancer's (Eq. 1.1-1.4),
the controller's (Eq. 1.6-1.8) and the full system's. Kept apart from `policies` so that both
stay readable."""
from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import Field, field_validator

from edgesim.policies.base import PolicyConfig
from edgesim.scenario.types import Duration, Size
from edgesim.systems.distream import balancer as bal
from edgesim.systems.distream import predictor as pred

Groups = Optional[Union[str, list[str]]]


class RolesConfig(PolicyConfig):
    cameras: Groups = Field(None, description="node groups (or members) that are the smart "
                                              "cameras; default: nodes with role 'camera'")
    edge: Groups = Field(None, description="node groups (or members) of the edge cluster; "
                                           "default: nodes with role 'edge'")


class PartitionConfig(RolesConfig):
    reference: Optional[str] = Field(None, description="device whose mean batch-1 service times "
                                     "profile the DAG; default: the first camera's device")


class BalancerParams(PartitionConfig):
    beta: float = Field(0.2, ge=0, description="imbalance index v' above which the cross-camera "
                                               "balancer runs (Eq. 1.4a)")
    dx: float = Field(0.01, gt=0, le=1, description="migration step, a fraction of the most "
                                                    "loaded camera's normalised workload")
    normalise: Literal["multiply", "divide"] = Field(
        "multiply", description="Eq. 1.4d's capacity normalisation: 'multiply' is the paper's "
        "u'_i = u_i * a_i (a_i = C_i / C_mean); 'divide' uses u'_i = u_i / a_i. "
        + bal.DIVIDE_REASON)
    predictor: Literal["none", "ewma", "oracle", "lstm"] = Field(
        "ewma", description="workload predictor for Eq. 1.2's adjustment. 'lstm' is the paper's "
        "(§1.4: two layers of lstm_hidden units, trained on the run's past) and needs the "
        "'learn' extra (PyTorch); 'ewma' is the default so that a scenario runs, and gives the "
        "same result, in installs without PyTorch; 'oracle' reads the true future arrivals; "
        "'none' leaves w_hat = 0")
    migrate: Literal["queued", "new"] = Field(
        "queued", description="what the balancer's plan x_ij moves from camera i to j. "
        "'queued' (the paper's: the ROIs in a camera's queue are what is offloaded, §1.3.1-"
        "1.3.2) moves the plan's share x_ij / u_i of the requests waiting in camera i's queue "
        "when the instruction arrives (their bytes cross the network; never to a longer "
        "queue), and the rest of x_ij as a share of its new ROIs. 'new' moves new ROIs only "
        "and waiting ones stay (the behaviour before issue #26; a backlog then drains only "
        "where it formed)")
    horizon: Duration = Field(1.0, gt=0, description="how far ahead the predictor looks")
    ewma_alpha: float = Field(0.2, gt=0, le=1, description="smoothing of the 'ewma' predictor "
                                                           "(per report interval)")
    lstm_hidden: int = Field(256, ge=1, description="units per LSTM layer")
    lstm_window: int = Field(10, ge=1, description="seconds of history the LSTM reads")
    lstm_epochs: int = Field(100, ge=1, description="training epochs per (re)training")
    lstm_retrain: Duration = Field(60.0, gt=0, description="retraining period")
    lstm_min_history: int = Field(30, ge=2, description="seconds observed before the first "
                                                        "training (the EWMA answers until then)")
    lstm_periods: int = Field(1, ge=1, le=24, description="specialised LSTMs per day (6 in "
                                                          "the paper: one per four hours)")
    control_bytes: Size = Field(64.0, ge=0, description="bytes of one control message "
                                                        "(a balancing instruction, a partition point)")

    @field_validator("predictor")
    @classmethod
    def _torch(cls, v: str) -> str:
        if v == "lstm" and not pred.torch_available():
            from edgesim.learning import INSTALL_HINT
            raise ValueError(f"the 'lstm' predictor needs PyTorch, which is not installed "
                             f"({INSTALL_HINT}); or choose 'ewma', 'oracle' or 'none'")
        return v


class ControllerParams(PartitionConfig):
    gamma: Duration = Field(0.5, gt=0, description="camera-cluster partition schedule interval")
    slo: Optional[Duration] = Field(None, gt=0, description="latency SLO L_Max of Eq. 1.8; "
                                    "default: metrics.slo, else 3 s")
    step: float = Field(0.02, gt=0, le=1, description="partition point step of the heuristic's "
                                                      "second phase")
    ascent: bool = Field(True, description="the heuristic's first phase maximises Eq. 1.6c, "
                         "the system throughput in inferences/s, as §1.3.4 asks: water-filling "
                         "(every site at the same utilisation) refined by coordinate ascent. "
                         "false: water-filling alone, which balances inference cost rather than "
                         "maximising inferences, and swings less between periods (see the "
                         "Distream guide)")
    throughput: Literal["rate", "period"] = Field(
        "rate", description="the throughput the first phase maximises (Eq. 1.6). 'rate' (the "
        "paper's TP^cam_i(par_i), a function of the point): what each site sustains of the load "
        "the points send it; backlogs count only in Eq. 1.7's latency. 'period': what each site "
        "processes in the next gamma, its backlog drained included (edgesim's reading before), "
        "whose optimum empties every backlog within one period and swings the points between "
        "periods (see the Distream guide)")
    control_bytes: Size = Field(64.0, ge=0, description="bytes of one control message "
                                                        "(a balancing instruction, a partition point)")


class DistreamConfig(BalancerParams, ControllerParams):
    """Distream's policy parameters: the balancer's and the controller's, in one `params:`."""
