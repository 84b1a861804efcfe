"""A finished run: its summary, its tables, and a way to save them as a run directory."""
from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Union

from edgesim.metrics.atomic import atomic_path, write_parquet_atomic, write_text_atomic
from edgesim.scenario.learning_schema import SHARED_PREFIX

if TYPE_CHECKING:  # pragma: no cover - pandas is imported where the tables are built
    import pandas as pd


class Result:
    """What `edgesim.run` returns. The tables are built on first access."""

    def __init__(self, sim, summary: dict) -> None:
        self._sim = sim
        self.summary = summary
        self.scenario = sim.file

    @cached_property
    def requests(self) -> pd.DataFrame:
        """One row per finished request (completed, dropped, failed or timed out), by id.

        With metrics.stream_rows the rows were written to Parquet during the run; this reads
        them back (all of them, in memory): `requests_file` avoids that."""
        return self._sim.recorder.frame()

    @property
    def requests_file(self) -> Optional[Path]:
        """The streamed requests file (metrics.stream_rows; rows in finishing order), or None."""
        rec = self._sim.recorder
        return rec.close() if rec.streamed else None

    @cached_property
    def timeseries(self) -> pd.DataFrame:
        """Per node and sampling interval: time-average queue and busy executors, throughput."""
        return self._sim.samples.frame()

    @cached_property
    def links(self) -> Optional[pd.DataFrame]:
        """Per link channel and sampling interval: bytes, throughput, utilisation (None: no links)."""
        return self._sim.links.frame() if self._sim.links is not None else None

    @cached_property
    def transfers(self) -> Optional[pd.DataFrame]:
        """One row per transfer, when the scenario sets network.transfers: true."""
        net = self._sim.network
        if net is None or net.log is None:
            return None
        return net.log.frame([n.name for n in self._sim.nodes])

    def resolved(self) -> dict:
        """The scenario with every default filled in, as plain data."""
        data = self._sim.spec.model_dump(mode="json", by_alias=True)
        data["seed"] = self._sim.seed
        return _absolute_files(data, self.scenario)

    def save(self, directory: Union[str, Path], plots: bool = True,
             on_tables: Optional[Callable[[], None]] = None) -> Path:
        """Write the run directory; each file is written atomically (temp file, then rename).

        ``on_tables`` is called once the tables and the resolved scenario are on disk, before
        the plots (the CLI prints its summary table there, so the plots do not hold it up)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        prov = provenance(self.summary)
        streamed = self.requests_file
        if streamed is not None:    # copied as written: never the whole table in memory
            import shutil
            with atomic_path(out / "requests.parquet") as tmp:
                shutil.copyfile(streamed, tmp)
        else:
            write_parquet_atomic(self.requests, out / "requests.parquet", prov)
        write_parquet_atomic(self.timeseries, out / "timeseries.parquet", prov)
        if self.links is not None:
            write_parquet_atomic(self.links, out / "links.parquet", prov)
        if self.transfers is not None:
            write_parquet_atomic(self.transfers, out / "transfers.parquet", prov)
        self.write_resolved(out)
        if on_tables is not None:
            on_tables()
        if plots:
            from edgesim.metrics.plots import write_run_plots
            if streamed is not None:    # the latency CDF needs three columns, not the table
                import pandas as pd
                reqs = pd.read_parquet(streamed, columns=["latency", "outcome", "warmup"])
            else:
                reqs = self.requests
            write_run_plots(reqs, self.timeseries, self.summary, out / "plots")
        # The summary goes last: its presence marks a complete run directory.
        write_text_atomic(out / "summary.json", json.dumps(self.summary, indent=2) + "\n")
        return out

    def write_resolved(self, out: Path) -> None:
        """scenario.resolved.yaml: the scenario with every default filled in, files absolute."""
        import yaml
        write_text_atomic(out / "scenario.resolved.yaml",
                          f"# resolved from {self.scenario.file} by edgesim "
                          f"{self.summary['edgesim_version']}\n"
                          + yaml.safe_dump(self.resolved(), sort_keys=False))

    def __repr__(self) -> str:
        s = self.summary
        return (f"<Result {s['scenario']!r} policy={s['policy']} seed={s['seed']} "
                f"completed={s['requests']['completed']}>")


def _absolute_files(data, scenario) -> dict:
    """File references made absolute, so the resolved scenario runs from its run directory."""
    def walk(node, key=None, in_failures=False):
        if isinstance(node, dict):
            return {k: walk(v, k, in_failures or k == "failures") for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, key, in_failures) for v in node]
        if isinstance(node, str) and node.startswith(SHARED_PREFIX):
            return node                       # the shared data folder, wherever it is
        if isinstance(node, str) and (key in ("file", "path") or (in_failures and
                                                                  key == "trace")):
            return str(scenario.path(node).resolve())
        return node
    return walk(data)


def provenance(summary: dict) -> dict:
    """What a run's tables carry in their Parquet metadata: enough to know where a table copied
    out of its run folder came from (no time stamps: same scenario and seed, same bytes)."""
    keys = ("scenario", "seed", "policy", "system", "edgesim_version", "duration_s")
    out = {k: summary[k] for k in keys if summary.get(k) is not None}
    out["producer"] = "edgesim"
    return out
