"""VP's ensemble accuracy computed from real predictions (`edgesim.systems.vp.aggregate`,
`edgesim.systems.vp.predictions`): values worked out by hand on tiny files the tests write,
the paper's Eq. 1 scaling and top-k compression, located errors for bad files, and the torch-free
run of the bundled scenario."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgesim
from edgesim.errors import ScenarioError
from edgesim.scenario.loader import read
from edgesim.systems.vp import predictions as vpp
from edgesim.systems.vp.aggregate import compress, eq1_weights, set_accuracy
from tests.test_vp import ensemble_scenario

REPO = Path(__file__).resolve().parents[1]

# Two variants, three examples, three classes; labels 0, 1, 0.
A = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.3, 0.5]]     # votes 0, 1, 2
B = [[0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8]]     # votes 0, 0, 2
LABELS = [0, 1, 0]


def tiny(path: Path, probs=(A, B), labels=LABELS, names=("m0", "m1"), resolution=(96, 96),
         width=(0.35, 0.35)) -> Path:
    vpp.write(path, names, np.array(probs), np.array(labels), resolution, width, {"by": "test"})
    return path


def test_k1_votes_worked_by_hand():
    p = np.array([A, B], dtype=float)
    y = np.array(LABELS)
    w = np.ones(2)
    # Alone: A is right on examples 0 and 1, B on example 0 only.
    assert set_accuracy(p, y, [0], w, k=1) == pytest.approx(2 / 3)
    assert set_accuracy(p, y, [1], w, k=1) == pytest.approx(1 / 3)
    # Together: example 0 both vote 0 (right); example 1 one vote each for 0 and 1, a tie
    # broken at random (1/2); example 2 both vote 2 (wrong). So adding B to A *lowers* the
    # accuracy, 2/3 -> 1/2: more members do not always help, and no direction is asserted.
    assert set_accuracy(p, y, [0, 1], w, k=1) == pytest.approx(0.5)
    # Top-2: example 2 has class 2 first and classes 0, 1 tied second: 1/2.
    assert set_accuracy(p, y, [0, 1], w, k=1, top=2) == pytest.approx((1 + 1 + 0.5) / 3)


def test_compression_keeps_top_k_then_softmax():
    row = np.array([[0.5, 0.3, 0.15, 0.05]])
    e = [math.exp(0.5), math.exp(0.3), 1.0, 1.0]
    assert compress(row, 2)[0] == pytest.approx([v / sum(e) for v in e])
    e1 = [math.e, 1.0, 1.0, 1.0]                 # k = 1: the index alone, a vote of 1
    assert compress(row, 1)[0] == pytest.approx([v / sum(e1) for v in e1])
    full = [math.exp(v) for v in row[0]]
    assert compress(row, None)[0] == pytest.approx([v / sum(full) for v in full])


def test_eq1_scaling_weighs_the_larger_variant_and_can_flip_the_answer():
    assert eq1_weights([96, 224], [0.35, 0.5], alpha=2.0) == pytest.approx(
        [96 / 224, (0.5 / 0.35) ** 2])
    a, b = [0.9, 0.05, 0.05], [0.2, 0.7, 0.1]
    p = np.array([[a], [b]])
    y = np.array([1])
    sa = [math.exp(v) for v in a]
    sb = [math.exp(v) for v in b]
    sa, sb = [v / sum(sa) for v in sa], [v / sum(sb) for v in sb]
    # Equal weights: class 0 (0.539 + 0.281) beats class 1 (0.230 + 0.464): wrong.
    assert sa[0] + sb[0] > sa[1] + sb[1]
    assert set_accuracy(p, y, [0, 1], np.ones(2), k=None) == 0.0
    # Eq. 1 with rho = 96 and 224: A weighs 96/224 and class 1 wins: right.
    w = eq1_weights([96, 224], [0.35, 0.35])
    assert w[0] * sa[1] + sb[1] > w[0] * sa[0] + sb[0]
    assert set_accuracy(p, y, [0, 1], w, k=None) == 1.0


def _run(tmp_path: Path, accuracy: dict, **kw) -> dict:
    sc = ensemble_scenario([0.01, 0.02], links=False, deadline=1.0, rate=1.0, duration=5.5,
                           answer={"k": 1, "classes": 3}, accuracy=accuracy, **kw)
    return edgesim.run(read(sc, base_dir=tmp_path)).summary["answers"]


def test_a_run_records_the_computed_accuracy_of_its_answering_set(tmp_path):
    tiny(tmp_path / "p.npz")
    a = _run(tmp_path, {"file": "p.npz"})
    assert a["availability"] == 1.0
    assert a["accuracy"]["answered"] == pytest.approx(0.5)      # both answer: the hand value
    top2 = _run(tmp_path, {"file": "p.npz", "top": 2})
    assert top2["accuracy"]["answered"] == pytest.approx(2.5 / 3)


def test_the_same_seed_gives_the_same_summary(tmp_path):
    tiny(tmp_path / "p.npz")
    assert _run(tmp_path, {"file": "p.npz"}) == _run(tmp_path, {"file": "p.npz"})


def test_write_is_byte_for_byte_reproducible(tmp_path):
    one, two = tiny(tmp_path / "a.npz"), tiny(tmp_path / "b.npz")
    assert one.read_bytes() == two.read_bytes()
    p = vpp.read(one)
    assert p.variants == ("m0", "m1") and p.classes == 3 and p.meta == {"by": "test"}


@pytest.mark.parametrize("make,words", [
    (lambda d: None, "p.npz: file not found"),
    (lambda d: (d / "p.npz").write_text("not a zip"), "not a readable .npz"),
    (lambda d: np.savez(d / "p.npz", variants=np.array(["m0", "m1"]), probs=np.array([A, B])),
     "missing array(s) ['labels']"),
    (lambda d: np.savez(d / "p.npz", variants=np.array(["m0", "m1"]),
                        probs=np.array([A, B]) * 3, labels=np.array(LABELS)),
     "save softmax outputs, not logits"),
    (lambda d: np.savez(d / "p.npz", variants=np.array(["m0", "m1"]), probs=np.array([A, B]),
                        labels=np.array([0, 1])), "'labels' must be 3 integers"),
    (lambda d: np.savez(d / "p.npz", variants=np.array(["m0"]), probs=np.array([A, B]),
                        labels=np.array(LABELS)), "must have shape (variants=1"),
    (lambda d: np.savez(d / "p.npz", variants=np.array(["m0", "m1"]), probs=np.array([A, B]),
                        labels=np.array(LABELS), width=np.array([0.35, -1.0])),
     "'width' must be 2 positive numbers"),
])
def test_a_missing_or_malformed_file_is_a_located_error(tmp_path, make, words):
    make(tmp_path)
    with pytest.raises(ScenarioError) as info:
        _run(tmp_path, {"file": "p.npz"})
    text = str(info.value)
    assert "workload.jobs.vp.ensemble.accuracy.file" in text and words in text, text


def test_members_and_classes_must_match_the_file(tmp_path):
    tiny(tmp_path / "p.npz", names=("m0", "other"))
    with pytest.raises(ScenarioError) as info:
        _run(tmp_path, {"file": "p.npz"})
    text = str(info.value)
    assert "ensemble.members.1.model" in text and "no variant 'm1'" in text
    assert "m0" in text and "other" in text            # the valid choices
    tiny(tmp_path / "p.npz")
    sc = ensemble_scenario([0.01, 0.02], links=False, deadline=1.0, answer={"k": 2,
                           "classes": 10}, accuracy={"file": "p.npz"})
    with pytest.raises(ScenarioError) as info:
        edgesim.run(read(sc, base_dir=tmp_path))
    assert "ensemble.answer.classes" in str(info.value) and "scores 3 classes" in str(info.value)


@pytest.mark.parametrize("accuracy,words", [
    ({"source": "predictions"}, "needs 'file'"),
    ({"file": "p.npz", "dataset": "cifar-10"}, "'dataset' only apply to source 'literature'"),
    ({"source": "literature", "file": "p.npz"}, "does not read 'file'"),
    ({"top": 2}, "'top' only apply to predictions"),
])
def test_sources_do_not_mix(tmp_path, accuracy, words):
    with pytest.raises(ScenarioError) as info:
        _run(tmp_path, accuracy)
    assert words in str(info.value), str(info.value)


def test_literature_source_stays_available():
    sc = ensemble_scenario([0.01], links=False, deadline=1.0, duration=5.5,
                           accuracy={"source": "literature", "table": {"m0": 0.6}})
    assert edgesim.run(sc).summary["answers"]["accuracy"]["answered"] == pytest.approx(0.6)


# --------------------------------------------------------------------------- the bundled file

BUNDLED = REPO / "scenarios" / "vp" / "predictions" / "cifar10-v1-v5.npz"


def test_bundled_predictions_record_how_they_were_made():
    p = vpp.read(BUNDLED)
    assert p.variants == (*(f"vp_v{i}" for i in range(1, 6)), "mobilenet_v2") and p.classes == 10
    assert p.meta["command"].startswith("python -m edgesim.systems.vp.predictions make")
    assert p.meta["command"].endswith("--baseline")
    for i, name in enumerate(p.variants):       # the file's own accuracies are what it holds
        assert p.meta["top1"][name] == pytest.approx(float((p.probs[i].argmax(1) ==
                                                            p.labels).mean()))
    # Eq. 1 inputs follow the family rule scaled to 32 x 32 inputs; the baseline is width 1.
    assert p.resolution.tolist() == [14, 18, 23, 27, 32, 32]
    assert p.width.tolist() == [0.35] * 5 + [1.0]


def test_smart_home_baselines_take_the_files_mobilenet_v2():
    import yaml
    p = vpp.read(BUNDLED)
    top1 = float((p.probs[p.index("mobilenet_v2")].argmax(1) == p.labels).mean())
    jobs = yaml.safe_load((REPO / "scenarios" / "vp" / "smart-home.yaml").read_text())[
        "workload"]["jobs"]
    assert jobs["single"]["accuracy"] == jobs["mp"]["accuracy"] == pytest.approx(top1, abs=1e-15)
    assert jobs["cp"]["ensemble"]["accuracy"]["value"] == pytest.approx(top1, abs=1e-15)


def test_smart_home_runs_without_torch(tmp_path):
    # `edgesim run scenarios/vp/smart-home.yaml` as a user types it; at exit the process says
    # whether torch was ever imported.
    code = ("import sys, atexit; atexit.register(lambda: print('TORCH', 'torch' in sys.modules)); "
            "from edgesim.cli import main; sys.argv = ['edgesim', 'run', "
            f"'scenarios/vp/smart-home.yaml', '--set', 'duration=300s', '--out', '{tmp_path}']; "
            "main()")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert "TORCH False" in out.stdout, out.stdout + out.stderr
    acc = json.loads((tmp_path / "summary.json").read_text())["answers"]["accuracy"]
    # No failures: all five answer, and the run records V1..V5's top-2 aggregate of the file.
    p = vpp.read(BUNDLED)
    rows = [p.index(f"vp_v{i}") for i in range(1, 6)]
    want = set_accuracy(p.probs[rows], p.labels, range(5),
                        eq1_weights(p.resolution[rows], p.width[rows]), k=2)
    assert acc["answered"] == acc["expected"] == pytest.approx(want, abs=1e-12)


def test_variants_trained_twice_with_one_seed_agree_bit_for_bit():
    pytest.importorskip("torch")
    from edgesim.learning.data import digits
    from edgesim.learning.variant_models import train_family
    from edgesim.learning.variants import scaled
    d = digits()
    x, y = d.x[:200], d.y[:200]
    archs = scaled(2, 8)
    one = train_family(archs, x, y, d.x[200:260], 10, seed=3, epochs=1)
    # Again, with the baseline trained alongside: each model has its own seeded streams, so
    # the variants come out the same bit for bit (what `make --baseline` relies on).
    two = train_family(archs + [vpp.baseline_arch(8)], x, y, d.x[200:260], 10, seed=3,
                       epochs=1)
    assert one.shape == (2, 60, 10) and two.shape == (3, 60, 10)
    assert np.array_equal(one, two[:2])
    assert np.allclose(two.sum(axis=2), 1.0, atol=1e-5)
