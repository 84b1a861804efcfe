"""The federated records as typed tables (what rounds.parquet and participation.parquet hold)."""
from __future__ import annotations

import pandas as pd

ROUND_COLUMNS = ["round", "start", "end", "duration", "wall_s", "learn_wall_s", "online",
                 "selected", "refreshed", "updates", "late", "crashed", "lost", "bytes_down",
                 "bytes_up", "bytes_importance", "model_down_bytes", "update_up_bytes",
                 "accuracy", "loss", "train_loss", "sparsity_target", "sparsity", "nonzero",
                 "model_bytes"]
PART_COLUMNS = ["round", "client", "group", "device", "role", "start", "downloaded", "computed",
                "end", "outcome", "examples", "steps", "bytes_down", "bytes_up", "up_bps",
                "down_bps", "train_loss"]


def rounds_frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=ROUND_COLUMNS)
    # Lists of client names stay lists (Parquet list<string>; DuckDB reads them as arrays).
    for col in ("selected", "refreshed"):
        df[col] = df[col].astype(object)
    df["train_loss"] = df["train_loss"].astype(float)
    return df


def participation_frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=PART_COLUMNS)
    df["train_loss"] = df["train_loss"].astype(float)
    for col in ("client", "device", "role", "outcome"):
        df[col] = df[col].astype("category")
    return df
