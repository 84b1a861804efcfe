"""Small scenario builders shared by the engine tests."""
from __future__ import annotations

import copy


def station(service: dict, *, rate: float = 1.0, executors: int = 1, duration: float = 100.0,
            process: str = "poisson", node: dict | None = None, job: dict | None = None,
            extra_sources: dict | None = None, **top) -> dict:
    sc = {
        "name": "t", "seed": 1, "duration": duration,
        "nodes": {"server": {"executors": executors, **(node or {})}},
        "workload": {
            "sources": {"in": {"arrivals": {"process": process, "rate": rate}, "job": "j"}},
            "jobs": {"j": {"stages": [{"model": "m", "node": "server"}], **(job or {})}},
        },
        "service": {"m": {"cpu": service}},
        "metrics": {"interval": 10.0},
    }
    sc["workload"]["sources"].update(copy.deepcopy(extra_sources or {}))
    sc.update(top)
    return sc
