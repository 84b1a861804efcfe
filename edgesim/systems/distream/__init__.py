"""Distream (Chapter 1 of the thesis in ``shared/seeds/002``): workload-adaptive live video
analytics on smart cameras and an edge cluster, and the baselines it is compared with.

Policies (registered by ``policies.py``)::

    camera-only   every stage on the ROI's own camera                          §1.5.1
    centralized   every stage on the least-loaded edge GPU                     §1.5.1
    videoedge-l   static cut nearest to C_cam / (C_cam + C_edge / N)           §1.5.1
    distream-l    balancer + videoedge-l's static cut                          §1.5.3
    distream-p    stochastic partitioning + adaptation controller              §1.5.3
    distream      balancer + stochastic partitioning + controller              §1.3

Equation -> function:

=====================================  ====================================================
Eq. 1.1  v = u_max / u_mean - 1        ``balancer.imbalance``
Eq. 1.2  u_i = w_i + sum x_ji          ``balancer.loads`` (w_hat from ``predictor``:
         - sum x_ij + w_hat_i           ``Predictor.predict``; none / ewma / oracle / lstm)
Eq. 1.3  v' on u'_i (Eq. 1.4d)          ``balancer.normalised_loads`` + ``balancer.imbalance``
Eq. 1.4a min max(v' - beta, 0)         ``balancer.objective``; solved by
                                       ``balancer.balance_iterative`` (§1.3.2's pairwise
                                       heuristic: most -> least loaded, dx = 1 % of u'_i,
                                       until v' <= beta or no improvement) or, the
                                       default, ``balancer.balance_direct`` (what those
                                       steps converge to, by water-filling);
                                       ``balancer.BalanceCache`` skips unchanged inputs
Eq. 1.4c a_i = C_i / C_mean            ``balancer.normalisation``
Eq. 1.4d u'_i = u_i * a_i              ``balancer.normalised_loads`` (``normalise: divide``
                                       for u_i / a_i, ``balancer.DIVIDE_REASON``)
x_ij -> migration                     ``balancer.queued_moves`` (waiting ROIs first,
                                       ``migrate: queued``), ``balancer.remaining_plan`` +
                                       ``balancer.migration_probabilities`` (new ROIs)
Full DAG profiling (Step#1)            ``partition.execution_paths``,
                                       ``partition.accumulated_costs``,
                                       ``partition.profile_paths``; in a run
                                       ``_Partitioned._points_of`` (mean batch-1 times
                                       of the path's models on the reference device)
Eq. 1.5  P_B = (par - Cost_C)          ``partition.split_probabilities``,
         / (Cost_B - Cost_C)            ``partition.bracket``, ``partition.draw_cut``
Eq. 1.6a-c TP_cams, TP_edge, TP_sys    ``controller.throughputs`` / ``controller.evaluate``
Eq. 1.7a-b L = w / TP + 1 / TP         ``controller.latency`` (w: the pending workloads
                                       predicted at the end of the period from the monitor
                                       view's queues)
Eq. 1.8  max TP_sys s.t. L <= L_Max    ``controller.plan`` = ``controller.phase_one``
                                       (water-filling) + ``controller.ascend`` (to the
                                       throughput optimum, no SLO: TP(par) as the rates
                                       sustained at the points, ``throughput: rate``, or
                                       ``period`` with backlogs drained within gamma;
                                       ``ascent: false`` skips it) + ``controller.phase_two``
                                       (bottleneck camera first, until the SLO holds);
                                       ``controller.feasible`` is Eq. 1.8b-c
VideoEdge-L's static point             ``_Partitioned.static_partition`` +
                                       ``partition.nearest_cut``
=====================================  ====================================================

Units and modelling choices, where the paper leaves them open:

* A *workload* is one inference (one DAG vertex of one ROI), as the paper counts IPS. The
  balancer's w_i is camera i's pending workloads in the monitor view (queued + in service);
  w_hat_i the predicted new ROIs over ``horizon`` (1 s, as §1.4's LSTM) times the expected
  inferences per ROI.
* Capacities come from the service models, not from catalogue FLOP/s: C = executors / (expected
  mean time of one ROI's DAG on the device, per request in a batch of the node's ``max_batch``):
  what the device sustains as deployed. The balancer's normalisation, VideoEdge-L's static point
  and the controller all use it (the controller takes a measured throughput when higher).
  Batch-1 capacities would misstate the camera/cluster ratio when batching pays off unequally.
* Eq. 1.4d is applied as the paper writes it, ``u_i * a_i``; ``normalise: divide`` applies
  ``u_i / a_i``, under which faster cameras receive more work (see `balancer`).
* The workload predictor is ``ewma`` by default; the paper's LSTM is ``predictor: lstm`` and
  needs the 'learn' extra (PyTorch), so that a default scenario runs alike without it.
* The plan x_ij of the balancer moves its share x_ij / u_i of the ROIs waiting in camera i's
  queue (``migrate: queued``, the default: the queue is what the paper offloads, §1.3.1;
  ``balancer.queued_moves``, never to a longer queue): when the instruction arrives, up to k_ij
  of the requests camera i would serve last and that are still before their cut go to camera j
  through the engine's ``PolicyContext.move_queued``, their bytes crossing the network; they take
  j's cut and their later camera stages follow them. The rest of x_ij becomes probabilities
  that camera i's *new* ROIs go to camera j, in force until the balancer runs again.
  ``migrate: new`` moves new ROIs only (the behaviour before). Migrated ROIs carry their bytes
  over the camera links (the engine moves a stage's ``bytes`` from where the data is to where
  it runs).
* The balancer is checked at every monitor report (``policy.report_interval``, 50 ms) and runs
  when v' > beta; the controller runs every gamma. Both live on the first edge node and send
  their results to the cameras through `Network.send_batch` (``network.rpc_batch`` per RPC); a
  camera applies an instruction when it arrives.

What the policies reach in the running simulation is isolated in `hooks`: the network (from
`PolicyContext`), completion counts per node (by wrapping the nodes' ``on_finish``) and the
oracle's look-ahead (by wrapping the sources' arrival processes), each with the engine hook
that would replace it.
"""
from edgesim.systems.distream.policies import (CameraOnly, Centralized, Decision, Distream, DistreamL,  # noqa: F401
                       DistreamP, VideoEdgeL)

__all__ = ["CameraOnly", "Centralized", "VideoEdgeL", "Distream", "DistreamL", "DistreamP",
           "Decision"]
