"""Decentralized heterogeneous edge training (Chen and Qin): sub-models of shared layers and
per-task branches on the nodes of a collaboration graph, averaged with their neighbours.

Modules: :mod:`.system` (build, located problems), :mod:`.run` (the SimPy rounds),
:mod:`.cost` (closed-form sizes of the learned and timed decompositions),
:mod:`.summary` (summary.json part, the centralized comparison, the CLI rows), :mod:`.frames`
(rounds, nodes and links tables), :mod:`.plots` (accuracy, bytes per node, topology)."""
