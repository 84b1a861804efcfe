"""Training on the edge and in the cloud: DEEPCON's multi-model schedules (DMML, DMML-SP,
DMML-Par) with the over-the-air loop and ASRS sampling, and Mercury's data-parallel SGD with
importance sampling (sequential pipeline, BACC), and federated learning (FedAvg, FedAce) with
real PyTorch learning on the simulated clock.

Modules, one concern each:

* :mod:`.devices`: a training device = a compute resource and a network-interface resource,
  byte transfers through the scenario's network, and the schedule log;
* :mod:`.allocation`: DMML-Par's choice of model for an idle worker (Alg. 2, Fig. 5);
* :mod:`.deepcon`: the three DMML schedules;
* :mod:`.asrs`: adaptive stratified reservoir sampling (Alg. 3);
* :mod:`.ota`: the Deploy -> Validate -> Train -> Update loop; :mod:`.ota_learning` the real
  models it deploys, validates and fine-tunes when `ota.learning` is set;
* :mod:`.mercury`: the SGD, sequential and BACC schedules; :mod:`.mercury_baselines` the
  TicTac and AdaComm baselines; :mod:`.allreduce` their shared multi-parameter-server
  all-reduce; :mod:`.mercury_learning` the model they train with `mercury.learning`;
* :mod:`.federated`: FedAvg and FedAce rounds with real learning (:mod:`edgesim.learning`),
  built by :mod:`.fed_system` from :mod:`.fed_clients`; :mod:`.fed_summary`,
  :mod:`.fed_frames`, :mod:`.fed_plots`, :mod:`.fed_compare` for its outputs;
* :mod:`.failures`: client crashes and slow-downs, outages and loss in training runs;
* :mod:`.simulation`: build, check, run and collect a training scenario;
* :mod:`.result`, :mod:`.gantt`, :mod:`.sweep`: outputs, the Gantt chart, tables over
  parameter grids.

A scenario with a `training:` section runs here instead of the request engine.
"""
