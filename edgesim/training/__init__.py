"""The training machinery every training system shares, below the systems themselves
(:mod:`edgesim.systems`): a scenario with a `training:` section runs here instead of the
request engine.

* :mod:`.protocol`: :class:`~.protocol.TrainingSystem`, what a system provides;
* :mod:`.simulation`: build, check, run and collect a training scenario (the system's runtime
  comes from :mod:`edgesim.registry`, built by :mod:`.build`);
* :mod:`.devices`: a training device = a compute resource and a network-interface resource,
  byte transfers through the scenario's network, and the schedule log;
* :mod:`.allreduce`: the multi-parameter-server all-reduce (Mercury's Fig. 2.1);
* :mod:`.learning_build`: the torch gate, data set and held-out split of learning systems;
* :mod:`.failures`: crashes and slow-downs of members, outages and loss, in training runs;
* :mod:`.summary`, :mod:`.result`, :mod:`.gantt`: summary.json's common part, the run
  directory, the Gantt chart; :mod:`.comparison` what `edgesim training compare` returns and
  :mod:`.sweep` tables over parameter grids.
"""
