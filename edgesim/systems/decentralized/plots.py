"""Figures of a decentralized run: accuracy against simulated time, bytes per node, and the
collaboration graph with the bytes each link carried."""
from __future__ import annotations

from pathlib import Path

import pandas as pd


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    return plt


def plot_accuracy(rounds: pd.DataFrame, path: Path, title: str) -> Path:
    """Local (mean and minimum over nodes) and global accuracy against simulated time."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    d = rounds.dropna(subset=["global_accuracy"])
    ax.plot(d["end"], d["global_accuracy"], color="C0", label="global (recomposed)")
    ax.plot(d["end"], d["local_accuracy_mean"], color="C1", label="local, mean of nodes")
    ax.plot(d["end"], d["local_accuracy_min"], color="C1", ls=":", label="local, worst node")
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_node_bytes(nodes: pd.DataFrame, path: Path, title: str) -> Path:
    """Bytes each node sent and received over the run."""
    plt = _plt()
    per = nodes.groupby("node", observed=True)[["bytes_sent", "bytes_received"]].sum()
    fig, ax = plt.subplots(figsize=(max(4, 0.8 * len(per) + 2), 3.5), constrained_layout=True)
    x = range(len(per))
    ax.bar([i - 0.2 for i in x], per["bytes_sent"] / 1e6, 0.4, label="sent")
    ax.bar([i + 0.2 for i in x], per["bytes_received"] / 1e6, 0.4, label="received")
    ax.set_xticks(list(x), list(per.index), rotation=30)
    ax.set_ylabel("MB")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_topology(system, links: pd.DataFrame, path: Path, title: str) -> Path:
    """The collaboration graph: nodes labelled with their tasks, links with their bytes."""
    import networkx as nx
    plt = _plt()
    names = [w.name for w in system.nodes]
    g = nx.relabel_nodes(system.graph, dict(enumerate(names)))
    per = links.groupby(["a", "b"], observed=True)["bytes"].sum()
    pos = nx.circular_layout(g)
    fig, ax = plt.subplots(figsize=(6, 5), constrained_layout=True)
    nx.draw_networkx_edges(g, pos, ax=ax, edge_color="0.5")
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color="C0", node_size=900, alpha=0.8)
    labels = {w.name: f"{w.name}\n{','.join(map(str, w.tasks))}" for w in system.nodes}
    nx.draw_networkx_labels(g, pos, labels, ax=ax, font_size=7)
    edge_labels = {(a, b): f"{v / 1e6:.3g} MB" for (a, b), v in per.items()}
    nx.draw_networkx_edge_labels(g, pos, edge_labels, ax=ax, font_size=7)
    ax.set_title(title, fontsize=10)
    ax.axis("off")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_all(system, directory: Path, summary: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    f = system.frames()
    title = f"{summary['scenario']} · seed {summary['seed']}"
    plot_accuracy(f["rounds"], directory / "accuracy.png", title)
    plot_node_bytes(f["nodes"], directory / "bytes_per_node.png", title)
    if len(system.nodes) > 1:
        plot_topology(system, f["links"], directory / "topology.png", title)
