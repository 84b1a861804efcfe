"""`edgesim`, the command line: one module per command group, sharing :mod:`.common`.

* :mod:`.app`: the root group and `run`, `check`, `schema`, `scenarios`, `policies`, `systems`,
  with the other groups attached lazily (so `edgesim --help` imports none of them);
* :mod:`.trace` and :mod:`.video` (`edgesim trace`), :mod:`.calibrate` (`edgesim calibrate`),
  :mod:`.testbed` (`edgesim testbed`), :mod:`.compare` (`edgesim compare`), :mod:`.study`
  (`sweep`, `capacity`, `plot`), :mod:`.training` (`edgesim training`).

Nothing below the CLI imports it.
"""
from edgesim.cli.app import main

__all__ = ["main"]
