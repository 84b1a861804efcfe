"""A training system outside edgesim, in one folder: `training.pingpong` passes a model of
`bytes` between two nodes for `rounds` rounds. It plugs in through the entry point
``edgesim.systems`` and nothing else (the test in tests/test_plugins.py installs it)."""
from edgesim.registry import System

SYSTEM = System(
    "pingpong", "training", "two nodes pass a model back and forth",
    section="edgesim_pingpong.schema:PingPongSpec",
    section_doc="a plug-in's section: a model passed between two nodes",
    runtime="edgesim_pingpong.system:PingPong",
    report="edgesim_pingpong.system:report_rows")
