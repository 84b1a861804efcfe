"""The bundled Distream scenarios: they run, keep their promises, and a golden summary pins
the whole system's behaviour (any change to it must be deliberate); the Distream guide's
commands parse and its scenarios build."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import edgesim
from edgesim.systems.distream import balancer as bal

CAMPUS = "scenarios/distream/campus.yaml"


def _golden(s: dict, completed: int, in_flight: int, ips: float, mean: float,
            p99: float) -> None:
    """90 s of campus.yaml: 19613 ROIs generated (2509 in the warm-up), none lost, no SLO miss;
    the rest as pinned."""
    assert s["requests"] == {"generated": 19613, "completed": completed, "dropped": 0,
                             "failed": 0, "timed_out": 0, "in_flight": in_flight,
                             "warmup": 2509, "in_flight_past_slo": 0}
    assert s["inference_ips"]["avg"] == pytest.approx(ips, rel=1e-12)
    assert s["latency_s"]["mean"] == pytest.approx(mean, rel=1e-9)
    assert s["latency_s"]["p99"] == pytest.approx(p99, rel=1e-9)
    assert s["slo_miss_rate"] == 0.0


def test_campus_golden_summary():
    # the paper's defaults: Eq. 1.4d as u * a, the first phase maximising the rates sustained
    # at the points (ascent, throughput: rate), the balancer computed directly (the state its
    # dx steps converge to), waiting ROIs migrated with new ones (migrate: queued)
    s = edgesim.run(edgesim.load(CAMPUS, ["duration=90s"])).summary
    _golden(s, 19465, 148, 925.9833333333333, 0.472898294277567, 1.5306684361475895)


PREVIOUS = ["policy.params.migrate=new", "policy.params.throughput=period"]


def test_campus_golden_summary_before_issue_26():
    """migrate: new (only new ROIs migrate) and throughput: period (the first phase drains
    backlogs within gamma) reproduce the summary pinned before issue #26, bit for bit."""
    s = edgesim.run(edgesim.load(CAMPUS, ["duration=90s"] + PREVIOUS)).summary
    _golden(s, 19482, 131, 926.4833333333333, 0.47729703640300275, 1.6170864852333495)


@pytest.fixture
def iterative(monkeypatch):
    """The balancer as the paper's dx steps (`balancer.balance_iterative`), as it ran before
    the direct computation became the default."""
    monkeypatch.setattr(bal, "balance", bal.balance_iterative)


def test_campus_golden_summary_with_the_iterative_balancer(iterative):
    """The steps (with the choices before issue #26) reproduce the summary pinned before the
    balancer was computed directly, bit for bit; the direct summary above differs from it as the steps' own results differ with
    dx (over dx = 0.001-0.02 on these 90 s: latency mean 0.473-0.480 s, p99 1.53-1.61 s; the
    guide's "Results beside the paper" has the same for whole runs)."""
    s = edgesim.run(edgesim.load(CAMPUS, ["duration=90s"] + PREVIOUS)).summary
    assert s["requests"]["completed"] == 19474 and s["requests"]["in_flight"] == 139
    assert s["inference_ips"]["avg"] == pytest.approx(926.2333333333333, rel=1e-12)
    assert s["latency_s"]["mean"] == pytest.approx(0.4733721123730227, rel=1e-9)
    assert s["latency_s"]["p99"] == pytest.approx(1.5387748002560218, rel=1e-9)
    assert s["slo_miss_rate"] == 0.0


def test_campus_golden_summary_with_the_previous_defaults(iterative):
    """normalise: divide + ascent: false (and the iterative balancer) reproduce the summary
    pinned before the paper's forms became the defaults, bit for bit."""
    s = edgesim.run(edgesim.load(CAMPUS, ["duration=90s", "policy.params.normalise=divide",
                                          "policy.params.ascent=false"] + PREVIOUS)).summary
    assert s["requests"]["completed"] == 19461 and s["requests"]["in_flight"] == 152
    assert s["inference_ips"]["avg"] == pytest.approx(926.4, rel=1e-12)
    assert s["latency_s"]["mean"] == pytest.approx(0.47870870926508685, rel=1e-9)
    assert s["latency_s"]["p99"] == pytest.approx(1.5841005997083584, rel=1e-9)


POLICIES = ["camera-only", "centralized", "videoedge-l", "distream-l", "distream-p", "distream"]


@pytest.fixture(scope="module")
def campus_by_policy():
    """Five simulated minutes of campus.yaml (07:00-09:30 of the campus day, the morning rise)
    under every policy, one seed: the arrivals are identical across policies (common random
    numbers), so the differences are the policies'."""
    return {p: edgesim.run(edgesim.load(CAMPUS, ["duration=300s", f"policy.name={p}"])).summary
            for p in POLICIES}


def test_campus_policy_ordering(campus_by_policy):
    ips = {p: s["inference_ips"]["avg"] for p, s in campus_by_policy.items()}
    miss = {p: s["slo_miss_rate"] for p, s in campus_by_policy.items()}
    # Throughput (Tables 1.2, 1.4): Distream >= VideoEdge-L >= Camera-Only.
    assert ips["distream"] >= ips["videoedge-l"] >= ips["camera-only"]
    assert ips["distream"] > 1.2 * ips["videoedge-l"] and ips["videoedge-l"] > 1.5 * ips["camera-only"]
    # SLO miss (Fig. 1.12, Table 1.4): Distream the lowest of all, far below every baseline,
    # and the ablations in between: above Distream, below the best baseline.
    best_baseline = min(miss[p] for p in ("camera-only", "centralized", "videoedge-l"))
    assert miss["distream"] < 0.25 * best_baseline
    assert max(miss["distream-l"], miss["distream-p"]) < best_baseline
    assert miss["distream"] < miss["distream-p"]
    # The controller's first phase (issue #26): maximising what the sites process in the next
    # period, backlogs drained within gamma ("period", edgesim's reading before), swings the
    # points between periods; the paper's TP(par) ("rate", the default) does not. On the
    # whole run (guide, seeds 1-3) 9.9-10.x% against 2.4-2.5%; here the first 300 s.
    per = edgesim.run(edgesim.load(CAMPUS, ["duration=300s", "policy.name=distream",
                                            "policy.params.throughput=period"])).summary
    assert miss["distream"] < 0.5 * per["slo_miss_rate"]
    # A gap to the paper, pinned so that it is seen: Distream still misses more than
    # Distream-L here (the paper has Distream lowest). The misses are ROIs whose camera part
    # runs several classifiers on a camera (each stage queues for its own batch of 8 on a
    # Jetson), which Eq. 1.7's per-workload latency does not see; Distream-L's static cut
    # keeps at most two stages on a camera (the guide's "controller's first phase").
    assert miss["distream-l"] < miss["distream"]


@pytest.mark.parametrize("policy", ["camera-only", "centralized"])
def test_extreme_placements(policy):
    r = edgesim.run(edgesim.load(CAMPUS, ["duration=200s", f"policy.name={policy}"]))
    paths = r.requests.nodes.astype(str)
    if policy == "camera-only":
        assert not paths.str.contains("edge").any()
        first = paths.str.split(">").str[0]
        assert (first == r.requests.source.astype(str).str.split(".").str[1]).all()
    else:
        assert paths.str.split(">").apply(lambda p: all(n.startswith("edge") for n in p)).all()


def _offered_rois(path: str, cameras: int, start: float, end: float) -> float:
    """ROIs the trace offers the first ``cameras`` cameras in [start, end)."""
    import pandas as pd
    df = pd.read_csv(path, comment="#")
    rows = df[(df.time_s >= start) & (df.time_s < end)]
    return rows[[f"cam{k}" for k in range(cameras)]].to_numpy().sum()


def test_scaling_6_to_24_cameras_is_linear_in_the_offered_load(campus_by_policy):
    """Fig. 1.15: from 6 cameras + 1 GPU to 24 + 4, Distream's throughput grows 3.95x in the
    paper. Here the ratio is the trace's: Distream-L serves what each size is offered, so the
    measured IPS ratio equals the offered-load ratio of the 24 vs the first 6 cameras."""
    s6 = edgesim.run(edgesim.load("scenarios/distream/scaling-6.yaml",
                                  ["duration=300s", "policy.name=distream-l"])).summary
    ratio = campus_by_policy["distream-l"]["inference_ips"]["avg"] / s6["inference_ips"]["avg"]
    trace = "traces/rois/campus-24-day.csv"
    offered = _offered_rois(trace, 24, 30, 300) / _offered_rois(trace, 6, 30, 300)
    assert ratio == pytest.approx(offered, rel=0.05)


GUIDE = "docs/guides/distream.md"


def _guide_commands() -> list[tuple[list[str], str]]:
    """Every `edgesim` command of the Distream guide, from its bash blocks and from inline code
    (the tables' command column), with the placeholders P (a policy), S (a seed or a count
    scale) and $P filled in."""
    from tests.test_docs import blocks, edgesim_lines
    path = Path(__file__).resolve().parents[1] / GUIDE
    bodies = [body for lang, body, _line in blocks(path) if lang == "bash"]
    text = path.read_text(encoding="utf-8")
    # inline: the runs and comparisons (other inline mentions name a command, not a use)
    bodies += [" ".join(m.split()) for m in re.findall(r"`(edgesim (?:run|compare) [^`]+)`", text)]
    out = []
    for body in bodies:
        body = re.sub(r"(policy\.name=)(\$P|P)\b", r"\1distream", body)
        body = re.sub(r"--seed S\b", "--seed 2", body)
        body = re.sub(r"(scale=)S\b", r"\g<1>1.94", body)
        for argv, _code, line in edgesim_lines(body):
            out.append((argv, line))
    return out


def test_guide_commands_parse_and_their_scenarios_build():
    """The guide's commands are real commands with real options, and every scenario they run,
    with its --set overrides, builds (policy names and parameters included)."""
    import click

    from edgesim.bundled import find_scenario
    from edgesim.cli.app import main
    cmds = _guide_commands()
    assert len(cmds) >= 10
    seen = set()
    for argv, line in cmds:
        cmd, args = main, list(argv)
        while isinstance(cmd, click.Group):
            assert args and args[0] in cmd.commands, f"{GUIDE}: {line}"
            cmd, args = cmd.commands[args[0]], args[1:]
        ctx = cmd.make_context(cmd.name, list(args))
        if cmd.name != "run":
            continue
        key = (ctx.params["scenario"], ctx.params["sets"])
        if key in seen:
            continue
        seen.add(key)
        sf = edgesim.load(find_scenario(key[0]), list(key[1]))
        assert edgesim.simulation(sf) is not None, line


def test_guide_links_and_embedded_files_resolve():
    from tests.test_docs import _slug
    path = Path(__file__).resolve().parents[1] / GUIDE
    text = path.read_text(encoding="utf-8")
    heads = {_slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}
    for anchor in re.findall(r"\]\(#([^)]+)\)", text):
        assert anchor in heads, f"{GUIDE}: broken anchor #{anchor}"
    for target in re.findall(r"\]\(([^)#\s]+)\)", text):
        if "://" not in target:
            assert (path.parent / target).exists(), f"{GUIDE}: missing {target}"
