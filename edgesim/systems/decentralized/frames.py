"""The decentralized records as typed tables: rounds.parquet, nodes.parquet, links.parquet."""
from __future__ import annotations

import pandas as pd

ROUND_COLUMNS = ["round", "start", "end", "duration", "train_end", "exchange_end", "wall_s",
                 "learn_wall_s", "compute_max_s", "compute_mean_s", "exchange_s",
                 "aggregation_max_s", "aggregation_flops", "train_flops", "train_flops_max",
                 "cumulative_flops_max", "cumulative_flops", "bytes", "local_accuracy_mean",
                 "local_accuracy_min", "global_accuracy", "global_loss", "train_loss"]
NODE_COLUMNS = ["round", "node", "device", "tasks", "examples", "steps", "train_flops",
                "aggregation_flops", "cumulative_flops", "compute_s", "aggregation_s",
                "bytes_sent", "bytes_received", "local_accuracy", "train_loss"]
LINK_COLUMNS = ["round", "a", "b", "common_tasks", "bytes_ab", "bytes_ba", "bytes"]


def frames(run, timed: str, learned: str) -> dict[str, pd.DataFrame]:
    """The tables; bytes and FLOPs in them are the ``timed`` model's, and each row says which
    model that is and which one learned (as FedAce's tables do)."""
    nodes = pd.DataFrame(run.node_rows, columns=NODE_COLUMNS)
    links = pd.DataFrame(run.link_rows, columns=LINK_COLUMNS)
    for df, cols in ((nodes, ("node", "device", "tasks")), (links, ("a", "b"))):
        for col in cols:
            df[col] = df[col].astype("category")
    for col in ("bytes_ab", "bytes_ba", "bytes"):
        links[col] = links[col].astype(float)
    out = {"rounds": pd.DataFrame(run.rounds, columns=ROUND_COLUMNS), "nodes": nodes,
           "links": links}
    for df in out.values():
        df["timed_model"] = pd.Categorical([timed] * len(df))
        df["learned_model"] = pd.Categorical([learned] * len(df))
    return out
