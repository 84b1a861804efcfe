"""What a system's comparison (`edgesim training compare`) returns: a table with a heading,
and the files it can write. Each system that compares runs provides ``compare`` in
:mod:`edgesim.registry`: ``compare(refs, target=, seed=, sets=) -> Comparison``, refs being run
directories or scenarios (the baseline first)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pandas as pd


@dataclass
class Comparison:
    heading: str
    table: pd.DataFrame
    # Extra figures: (file name, function(path) -> path) written beside comparison.csv.
    figures: list = field(default_factory=list)

    def write(self, folder: Path) -> list[Path]:
        """comparison.csv and the figures into ``folder`` (made if missing)."""
        from edgesim.metrics.atomic import write_text_atomic
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out = [folder / "comparison.csv"]
        write_text_atomic(out[0], self.table.to_csv(index=False))
        for name, draw in self.figures:
            out.append(draw(folder / name))
        return out


def system_of(ref: str, sets: tuple = ()) -> Optional[str]:
    """The training system of a run directory or a scenario (None: not a training one)."""
    p = Path(ref)
    if p.is_dir() and (p / "summary.json").exists():
        import json
        return json.loads((p / "summary.json").read_text()).get("system")
    from edgesim.api import load_named
    sf = load_named(ref, sets)
    return sf.spec.training.system if sf.spec.training is not None else None

