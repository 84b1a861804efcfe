"""Workload predictors for the balancer's adjustment w_hat (Eq. 1.2).

A predictor is fed, every report interval, how many new ROIs each camera produced since the
previous call (``observe``), and answers how many each will produce in the next ``horizon``
seconds (``predict``). The policy converts ROIs to workloads (inferences per ROI).

* ``none``: no adjustment (w_hat = 0).
* ``ewma``: an exponentially weighted moving average of each camera's rate.
* ``oracle``: the true future arrivals, read from the sources' own arrival processes through
  `Lookahead` (drawn ahead from the same stream, so the run's arrivals do not change).
* ``lstm``: §1.4's predictor, a two-layer LSTM (256 units per layer by default) that takes the
  arrived workloads of all cameras per second and predicts each camera's next second. It is
  trained on the trace's past as the run goes (every ``retrain`` seconds on everything seen so
  far; the EWMA answers until the first training); ``periods = 6`` trains one specialised
  LSTM per four hours of the day, as the paper does. Needs PyTorch, imported only here and
  only when this predictor is chosen.
"""
from __future__ import annotations

from collections import deque
from typing import Optional, Sequence

INF = float("inf")


class Predictor:
    name = "none"

    def __init__(self, n: int) -> None:
        self.n = n

    def observe(self, now: float, counts: Sequence[float]) -> None:
        """New ROIs per camera since the previous call."""

    def predict(self, now: float, horizon: float) -> list[float]:
        """Expected new ROIs per camera in ``(now, now + horizon]``."""
        return [0.0] * self.n


class EWMAPredictor(Predictor):
    name = "ewma"

    def __init__(self, n: int, alpha: float = 0.2) -> None:
        super().__init__(n)
        self.alpha = alpha
        self.rate = [0.0] * n
        self.last: Optional[float] = None
        self.started = False

    def observe(self, now: float, counts: Sequence[float]) -> None:
        if self.last is None:
            self.last = now
            self.rate = [0.0] * self.n
            if any(counts):
                self.started = True
            return
        dt = now - self.last
        self.last = now
        if dt <= 0:
            return
        a = self.alpha if self.started else 1.0
        self.started = True
        self.rate = [(1 - a) * r + a * c / dt for r, c in zip(self.rate, counts)]

    def predict(self, now: float, horizon: float) -> list[float]:
        return [r * horizon for r in self.rate]


class Lookahead:
    """Wraps an arrival process (`edgesim.workload.arrivals`) so that future arrival times can be
    counted without changing them: times are drawn ahead with exactly the calls the source
    would make (``next_time(previous arrival)``, the first from 0) and served in order."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.buf: deque = deque()
        self.last = 0.0
        self.exhausted = False
        self.served = -INF      # the arrival the source has scheduled (taken from the buffer)

    def _draw(self) -> None:
        t = self.inner.next_time(self.last)
        if t >= INF:
            self.exhausted = True
            return
        self.buf.append(t)
        self.last = t

    def next_time(self, now: float) -> float:
        if not self.buf and not self.exhausted:
            self._draw()
        self.served = self.buf.popleft() if self.buf else INF
        return self.served

    def count(self, t0: float, t1: float) -> int:
        """Arrivals in ``(t0, t1]``: the one the source has scheduled and those drawn ahead."""
        while not self.exhausted and (not self.buf or self.buf[-1] <= t1):
            self._draw()
        return (t0 < self.served <= t1) + sum(1 for t in self.buf if t0 < t <= t1)

    def mean_rate(self) -> float:
        return self.inner.mean_rate()

    def __getattr__(self, name):
        return getattr(self.inner, name)


class OraclePredictor(Predictor):
    """Counts the ROIs the sources will create. ``sources``: (camera position, Lookahead)."""

    name = "oracle"

    def __init__(self, n: int, sources: Sequence[tuple[int, Lookahead]]) -> None:
        super().__init__(n)
        self.sources = list(sources)

    def predict(self, now: float, horizon: float) -> list[float]:
        out = [0.0] * self.n
        for cam, la in self.sources:
            out[cam] += la.count(now, now + horizon)
        return out


def torch_available() -> bool:
    import importlib.util
    return importlib.util.find_spec("torch") is not None


class LSTMPredictor(Predictor):
    """§1.4: a two-layer LSTM over the per-second workloads of all cameras."""

    name = "lstm"

    def __init__(self, n: int, *, bin_s: float = 1.0, window: int = 10, hidden: int = 256,
                 layers: int = 2, epochs: int = 100, retrain: float = 60.0,
                 min_history: int = 30, periods: int = 1, seed: int = 0, lr: float = 3e-3,
                 alpha: float = 0.2) -> None:
        super().__init__(n)
        import torch  # noqa: F401  (optional dependency; fail early with a clear error)
        self.bin_s, self.window, self.hidden, self.layers = bin_s, window, hidden, layers
        self.epochs, self.retrain, self.min_history = epochs, retrain, min_history
        self.periods, self.seed, self.lr = periods, seed, lr
        self.history: list[tuple[int, list[float]]] = []   # (period, counts per camera)
        self.current = [0.0] * n
        self.bin_end = bin_s
        self.models: dict = {}
        self.next_train = 0.0
        self.fallback = EWMAPredictor(n, alpha)
        self.trainings = 0

    def _period(self, t: float) -> int:
        return int((t % 86400.0) // (86400.0 / self.periods)) if self.periods > 1 else 0

    def observe(self, now: float, counts: Sequence[float]) -> None:
        self.fallback.observe(now, counts)
        # counts cover (previous call, now]: they belong to the bin that ends at or after now
        self.current = [c + x for c, x in zip(self.current, counts)]
        while now >= self.bin_end - 1e-9:
            self.history.append((self._period(self.bin_end - self.bin_s), self.current))
            self.current = [0.0] * self.n
            self.bin_end += self.bin_s
        if now >= self.next_train and len(self.history) >= self.min_history:
            self.train()
            self.next_train = now + self.retrain

    # ---------------------------------------------------------------- model
    def _build(self):
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(s, n: int, hidden: int, layers: int) -> None:
                super().__init__()
                s.lstm = nn.LSTM(n, hidden, num_layers=layers, batch_first=True)
                s.out = nn.Linear(hidden, n)

            def forward(s, x):
                y, _ = s.lstm(x)
                return s.out(y[:, -1, :])

        torch.manual_seed(self.seed + self.trainings)
        return Net(self.n, self.hidden, self.layers)

    def _series(self, period: int) -> list[list[float]]:
        return [c for p, c in self.history if p == period]

    def train(self) -> None:
        import torch
        periods = {p for p, _c in self.history}
        for period in sorted(periods):
            series = self._series(period)
            if len(series) <= self.window + 1:
                continue
            data = torch.log1p(torch.tensor(series, dtype=torch.float32))
            xs = torch.stack([data[k:k + self.window] for k in range(len(series) - self.window)])
            ys = data[self.window:]
            model = self._build()
            opt = torch.optim.Adam(model.parameters(), lr=self.lr)
            loss_fn = torch.nn.MSELoss()
            for _ in range(self.epochs):
                opt.zero_grad()
                loss = loss_fn(model(xs), ys)
                loss.backward()
                opt.step()
            model.eval()
            self.models[period] = model
        self.trainings += 1

    def predict(self, now: float, horizon: float) -> list[float]:
        model = self.models.get(self._period(now))
        series = self._series(self._period(now))
        if model is None or len(series) < self.window:
            return self.fallback.predict(now, horizon)
        import torch
        with torch.no_grad():
            x = torch.log1p(torch.tensor([series[-self.window:]], dtype=torch.float32))
            y = torch.expm1(model(x))[0].clamp(min=0.0).tolist()
        return [v * horizon / self.bin_s for v in y]


def mse(pred: Sequence[float], true: Sequence[float]) -> float:
    return sum((p - t) ** 2 for p, t in zip(pred, true)) / max(1, len(pred))


def make(kind: str, n: int, **kw) -> Predictor:
    if kind == "none":
        return Predictor(n)
    if kind == "ewma":
        return EWMAPredictor(n, kw.get("alpha", 0.2))
    if kind == "lstm":
        return LSTMPredictor(n, **kw)
    raise ValueError(f"unknown predictor {kind!r}")   # oracle needs the sources: see policies


