"""CLUE (Daga et al.): collaborative learning by pull-based knowledge transfer between edge
nodes on drifting request streams, and its baselines (isolated learning, FedAvg push), with
real learning on edgesim's simulated clock.

* :mod:`.nodes`: the edge nodes, their request streams and learning state;
* :mod:`.run`: the SimPy processes (serving, drift detection, help, push);
* :mod:`.system`: the build phase and the learning-system protocol;
* :mod:`.records`: tables, recovery after a drift, Eq. 3a/3b, the summary;
* :mod:`.plots`: error against simulated time with drift markers, bytes per node;
* :mod:`.paper`: Table 1 as a reference.

The arithmetic of knowledge transfer is :mod:`edgesim.learning.knowledge` (numpy only).
"""
