"""Named random streams: one independent generator per component, keyed by a stable name.

Each stream's SeedSequence is (scenario seed, hash of the component's name), so adding a camera
does not shift any other camera's draws, and two policies run on the same seed see the same
arrivals (common random numbers). Draws are taken from numpy in blocks, which keeps the
per-draw cost of the hot path low without changing the sequence a stream produces.
"""
from __future__ import annotations

import hashlib

import numpy as np

_BLOCK = 2048


def stream_key(name: str) -> tuple[int, ...]:
    """A stable spawn key for a component name (Python's hash() is salted per process)."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=16).digest()
    return tuple(int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4))


def generator(seed: int, name: str) -> np.random.Generator:
    """A numpy Generator for the component ``name`` under scenario ``seed``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=stream_key(name))))


class Stream:
    """Buffered draws of standard exponentials, normals and uniforms from one generator."""

    __slots__ = ("name", "gen", "_exp", "_ei", "_nrm", "_ni", "_uni", "_ui")

    def __init__(self, seed: int, name: str) -> None:
        self.name = name
        self.gen = generator(seed, name)
        self._exp: list = []
        self._ei = 0
        self._nrm: list = []
        self._ni = 0
        self._uni: list = []
        self._ui = 0

    def exp(self, mean: float) -> float:
        """An exponential draw with the given mean."""
        i = self._ei
        if i == len(self._exp):
            self._exp = self.gen.standard_exponential(_BLOCK).tolist()
            i = 0
        self._ei = i + 1
        return self._exp[i] * mean

    def normal(self) -> float:
        i = self._ni
        if i == len(self._nrm):
            self._nrm = self.gen.standard_normal(_BLOCK).tolist()
            i = 0
        self._ni = i + 1
        return self._nrm[i]

    def uniform(self) -> float:
        """A draw from [0, 1)."""
        i = self._ui
        if i == len(self._uni):
            self._uni = self.gen.random(_BLOCK).tolist()
            i = 0
        self._ui = i + 1
        return self._uni[i]


class Streams:
    """The factory of named streams for one run."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._made: dict[str, Stream] = {}

    def __call__(self, name: str) -> Stream:
        if name in self._made:
            raise ValueError(f"random stream {name!r} requested twice; streams must be unique")
        s = self._made[name] = Stream(self.seed, name)
        return s

    def generator(self, name: str) -> np.random.Generator:
        return generator(self.seed, name)
