"""Variant Parallelism (``../shared/seeds/001``, Asadi and Goudarzi): ensemble inference with a
deadline window, and its baselines model parallelism and class parallelism.

The ensemble is a job shape (``workload.jobs.<job>.ensemble``), so it composes with every
policy, network and failure. Paper -> code:

=======================================  ===================================================
§III-A master multicasts the input,      `ensemble.Ensemble.enter`: one member request per
waits a window, aggregates what arrived  member (input bytes master -> member); `Query.close`
                                         at the deadline or when all answered
§III-C / §IV-D Top-k compression,        `answer.h` (``ensemble.answer``: ``topk``); class
Eq. 3: h(k) bytes per answer             parallelism's raw scores: ``encoding: scores``
§III-B, Table I variant family          `edgesim.learning.variants` (width, rho_i, 64 x j);
                                         the zoo's vp_* models are generated from it
§III-C/D top-k, softmax, Eq. 1 scaling,  `aggregate`: accuracy of any answering set computed
aggregation                              from real predictions (`predictions`, a .npz of class
                                         probabilities; ``accuracy: {file: ...}``); no effect
                                         on time
Table VI single-model accuracies + rule  `accuracy.TABLE_VI` (``accuracy: {source: literature}``)
Table VII latencies (Galaxy Tab A)       literature bundle ``calibration/literature/
                                         galaxy-tab-a`` (`edgesim.calibration.predictor.literature_vp`)
Table V network: RTT 2 ms, 1 Mbps        the smart-home scenario's star of links
Aggregate 0.05 ms (Table VII)            ``ensemble.aggregate: vp_aggregate``
MP baseline: sequential slices           a ``stages`` job; cuts and bytes from `split`
CP baseline (sensAI): all must answer    an ensemble with ``quorum: all`` and ``scores``;
                                         time: `split.cp_time` (the zoo's ``sensai_part``)
availability under failures (§IV-G)      `edgesim.failures` (``fault``: per-query p)
=======================================  ===================================================
"""
from edgesim.systems.vp.answer import answer_bytes, h  # noqa: F401
