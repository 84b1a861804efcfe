"""Links in scenarios: fair sharing among concurrent transfers, through the full scenario path."""
from __future__ import annotations

import numpy as np
import pytest

import edgesim


def shared_link(n: int, size: float, bandwidth: float, latency: float) -> dict:
    """n cameras each send one transfer at t = 0 through one shared switch -> server link."""
    return {
        "name": "links", "seed": 0, "duration": 1000.0,
        "nodes": {"cam": {"count": n, "role": "camera"}, "srv": {"executors": n}},
        "switches": ["sw"],
        "links": {"access": {"ends": ["cam", "sw"], "bandwidth": 1e12},
                  "shared": {"ends": ["sw", "srv"], "bandwidth": bandwidth, "latency": latency}},
        "workload": {
            "sources": {"s": {"at": "cam", "job": "j", "limit": 1,
                              "arrivals": {"process": "deterministic", "rate": 1.0}}},
            "jobs": {"j": {"stages": [{"model": "m", "node": "srv", "bytes": size}]}}},
        "service": {"m": {"cpu": {"dist": "constant", "time": 1e-9}}},
        "metrics": {"interval": 1.0},
    }


@pytest.mark.parametrize("n", [1, 2, 5, 16])
def test_n_equal_transfers_share_a_link(n):
    size, bw, lat = 250_000.0, 10e6, 0.004
    df = edgesim.run(shared_link(n, size, bw, lat)).requests
    assert len(df) == n and (df.outcome == "completed").all()
    # A flow crosses its whole route at its bottleneck rate (fluid model, no store-and-forward),
    # so the fast access links add nothing; each of the n flows gets bw / n on the shared link.
    expected = n * size * 8 / bw + lat + 1e-9
    np.testing.assert_allclose(df.latency, expected, rtol=1e-9)
    assert (df.bytes == size).all()
