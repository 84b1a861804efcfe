"""The seed systems, one package each, holding everything that is that system's: its scenario
section (``schema``), its processes or policies, its summary, tables, plots, comparison and
baselines. Each plugs into the core through its record in :mod:`edgesim.registry` and nothing
else; no system imports another, and nothing below this package imports it.

distream (policies), vp (the `ensemble` job shape), deepcon, mercury, fedace (the
`training.federated` section), clue, decentralized.
"""
