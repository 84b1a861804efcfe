"""Learning throughput of ResNet-18 (the Fig. 2.11 recipe's learned model) on this CPU, one thread:
CPU seconds of one 12 x 32-image SGD step and of one importance loss, on the CIFAR-10 extract.
Run from the project root: PYTHONPATH=$PWD python docs/guides/mercury/resnet_throughput.py"""
import time, sys
import numpy as np, torch
torch.set_num_threads(1)
import edgesim
from edgesim.api import simulation_class
sets = ["nodes.tx1.count=12", "training.mercury.samples=4829", "training.mercury.iterations=2",
        'training.mercury.learning={"dataset": {"name": "cifar10", "path": "shared:data/learning/cifar10/cifar10-extract.npz"}, "partition": {"kind": "iid"}, "model": {"name": "resnet18"}, "lr": 0.1, "target_accuracy": 0.9, "eval_every": 200}']
sf = edgesim.load("scenarios/mercury/bacc.yaml", sets)
sim = simulation_class(sf)(sf).build()
ml = sim.system.learning
L, w = ml.learner, ml.weights
pos = np.concatenate([s[:32] for s in ml.shards])          # one iteration: 12 x 32 images
L.weighted_step(w, pos[:32], np.ones(32), 0.1)              # warm-up
# CPU seconds of this process (one thread): the cost on a core of its own, whatever the load
t0 = time.process_time(); n = 0
while n < 2:
    L.weighted_step(w, pos, np.ones(len(pos)), 0.1); n += 1
step = (time.process_time() - t0) / n
fwd = np.concatenate(ml.shards)[:256]
t0 = time.process_time(); m = 0
while m < 2:
    L.losses(w, fwd); m += 1
loss = (time.process_time() - t0) / (m * len(fwd))
print(f"CPU seconds, one thread: params {L.params}; iteration step (12 x 32 images): {step:.2f} s over {n}; "
      f"importance loss: {loss*1e3:.2f} ms per image over {m * len(fwd)}")
