"""The two-tier real testbed: a camera process, a shaped link, an edge server with batching.

``edgesim testbed --two-tier``. A camera process sends frames (``frame_bytes`` of random bytes,
Poisson at the configuration's rate, each segment conditioned on its count as in the one-tier
testbed) over one TCP connection to the edge server: the testbed's dispatcher with W worker
processes and dynamic batching (:mod:`.testbed_pool`), which takes a frame as a request once
its last byte is read. The link between them is shaped on this machine:

* ``link="netns"``: the camera runs in a network namespace the testbed makes, joined to the
  edge side by a veth pair; ``tc tbf`` on the camera's end shapes what it sends to ``rate``
  (bytes on the wire: payload, the 16-byte frame header and 66 bytes of Ethernet, IP and TCP
  headers per segment), and ``tcp_slow_start_after_idle`` is off in that namespace so an idle
  gap does not shrink the congestion window. It needs root and ``ip``/``tc``; the namespace
  and the pair are removed afterwards. (``tc netem`` delay is not used: the kernel here has no
  sch_netem, and a veth pair's own delay is tens of microseconds, measured and simulated.)
* ``link="bucket"``: where namespaces are not allowed, a token bucket in the camera process
  paces the same wire bytes over loopback at ``rate``.

Both keep one connection's frames in order, as TCP does. edgesim then simulates the same
system from the calibration and the link settings: a camera node and an edge node (W
executors, the same batching) joined by a link of that rate and the measured one-way delay,
one connection (``network.max_in_flight: 1``) and the per-frame header bytes, with the same
service model as the one-tier testbed. Latency is from a frame's due time at the camera to its
answer at the edge (one CLOCK_MONOTONIC for every process), so network, batching and queueing
are validated together.
"""
from __future__ import annotations

import math
import os
import shutil
import socket
import struct
import subprocess
import time
from typing import Callable, Optional, Sequence

import numpy as np

from edgesim.calibration.testbed.served_profile import Batching, arrival_offsets
from edgesim.calibration.testbed.run import Plan, _extender, _row, run_scenario
from edgesim.calibration.testbed.pool import WorkerPool
from edgesim.calibration.testbed.stats import compare, latency_stats

__all__ = ["LinkError", "NetnsLink", "TokenBucket", "netns_problem", "wire_bytes",
           "run_twotier", "twotier_scenario", "HEADER", "SEG_OVERHEAD"]

HEADER = struct.Struct("!IId")          # frame id, payload bytes, due time (perf_counter)
SEG_OVERHEAD = 66                       # Ethernet 14 + IPv4 20 + TCP 20 + timestamps 12
_PING = 0xFFFFFFFF


class LinkError(RuntimeError):
    """The shaped link cannot be made (no root, no ip/tc, a failed command)."""


def wire_bytes(payload: int, mss: int = 1448) -> int:
    """Bytes a frame puts on the wire: payload, frame header and per-segment headers."""
    body = int(payload) + HEADER.size
    return body + math.ceil(body / mss) * SEG_OVERHEAD


# ============================================================================================
# the link


def netns_problem() -> Optional[str]:
    """Why ``link="netns"`` cannot work here (None: it should)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"no {tool!r} command (iproute2)"
    return None


def _sh(*cmd: str) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LinkError(f"{' '.join(cmd)}: {exc}") from None
    if r.returncode != 0:
        raise LinkError(f"{' '.join(cmd)}: {r.stderr.strip() or f'exit status {r.returncode}'}")
    return r.stdout


class NetnsLink:
    """A veth pair from this namespace into a new one, the camera's end shaped by ``tc tbf``."""

    def __init__(self, rate_bps: float) -> None:
        why = netns_problem()
        if why:
            raise LinkError(why)
        tag = f"{os.getpid() % 100000}"
        self.ns = f"edgesim-tb-{tag}"
        self.cam_dev, self.edge_dev = f"es{tag}c", f"es{tag}e"
        used = _sh("ip", "-4", "-o", "addr")
        k = os.getpid() % 16000
        while f"10.{200 + k // 250 % 50}.{k % 250}." in used:
            k = (k + 1) % 16000
        net = f"10.{200 + k // 250 % 50}.{k % 250}"
        self.edge_ip, self.cam_ip = f"{net}.1", f"{net}.2"
        self._made = False
        try:
            _sh("ip", "netns", "add", self.ns)
            self._made = True
            _sh("ip", "link", "add", self.edge_dev, "type", "veth", "peer", "name", self.cam_dev)
            _sh("ip", "link", "set", self.cam_dev, "netns", self.ns)
            _sh("ip", "addr", "add", f"{self.edge_ip}/30", "dev", self.edge_dev)
            _sh("ip", "link", "set", self.edge_dev, "up")
            _sh("ip", "-n", self.ns, "addr", "add", f"{self.cam_ip}/30", "dev", self.cam_dev)
            _sh("ip", "-n", self.ns, "link", "set", self.cam_dev, "up")
            _sh("ip", "-n", self.ns, "link", "set", "lo", "up")
            # An idle connection would otherwise restart from the initial window after every
            # gap longer than its RTO; the simulated link has no congestion window.
            _sh("ip", "netns", "exec", self.ns, "sysctl", "-q", "-w",
                "net.ipv4.tcp_slow_start_after_idle=0")
            self.set_rate(rate_bps)
        except BaseException:
            self.close()
            raise

    def set_rate(self, rate_bps: float) -> None:
        """(Re)shape the camera's end: tbf at ``rate_bps``, a bucket of two full packets (less
        would drop them: tc rounds the bucket down to its clock ticks) and a queue that never
        drops (10 MB)."""
        if not rate_bps > 0:
            raise LinkError(f"link rate must be > 0, got {rate_bps!r}")
        self.rate_bps = float(rate_bps)
        _sh("tc", "-n", self.ns, "qdisc", "replace", "dev", self.cam_dev, "root", "tbf", "rate",
            f"{int(round(rate_bps))}bit", "burst", str(2 * (1448 + SEG_OVERHEAD)),
            "limit", str(10_000_000))

    @property
    def burst_bytes(self) -> int:
        return 2 * (1448 + SEG_OVERHEAD)

    def close(self) -> None:
        if self._made:
            subprocess.run(["ip", "netns", "del", self.ns], capture_output=True, timeout=30)
            subprocess.run(["ip", "link", "del", self.edge_dev], capture_output=True, timeout=30)
            self._made = False

    def __enter__(self) -> "NetnsLink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TokenBucket:
    """Paces bytes at ``rate_bps`` (wire bits: each chunk plus :data:`SEG_OVERHEAD`), a bucket
    of ``burst`` bytes (two full segments, as the netns link's tbf: a bucket of one would lose
    the tokens of every oversleep). ``clock``/``sleep`` are injectable so the rate can be
    checked exactly."""

    def __init__(self, rate_bps: float, burst: int = 2 * (1448 + SEG_OVERHEAD), mss: int = 1448,
                 clock: Callable[[], float] = time.perf_counter,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not rate_bps > 0 or burst < 1 or mss < 1:
            raise ValueError("rate_bps must be > 0, burst and mss >= 1")
        self.rate, self.cap, self.mss = float(rate_bps), 8.0 * burst, int(mss)
        self.clock, self.sleep = clock, sleep
        self.tokens, self.t = self.cap, clock()

    def _take(self, bits: float) -> None:
        need = min(bits, self.cap)        # a chunk larger than the bucket waits for a full one
        while True:
            now = self.clock()
            self.tokens = min(self.cap, self.tokens + (now - self.t) * self.rate)
            self.t = now
            # within a billionth: the sleep was for exactly the deficit (float rounding must
            # not make it sleep again for nothing)
            if self.tokens >= need * (1 - 1e-9):
                self.tokens -= bits
                return
            self.sleep((need - self.tokens) / self.rate)

    def send(self, data: bytes, out: Callable[[bytes], object]) -> None:
        """``out(chunk)`` for every MSS-sized chunk of ``data``, each once its bits are there."""
        view = memoryview(data)
        for i in range(0, len(view), self.mss):
            chunk = view[i:i + self.mss]
            self._take(8.0 * (len(chunk) + SEG_OVERHEAD))
            out(chunk)


def _enter_netns(ns: str) -> None:
    """Move this (single-threaded) process into network namespace ``ns`` (os.setns is 3.12+)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(fd, 0x40000000) != 0:            # CLONE_NEWNET
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {ns}: {os.strerror(err)}")
    finally:
        os.close(fd)


# ============================================================================================
# the camera process


def _camera_main(ns: Optional[str], host: str, port: int, frame_bytes: int,
                 bucket_bps: Optional[float], pings: int, conn) -> None:
    """Connect, time ``pings`` round trips, then send frames at the due times the parent gives.

    Control messages to the parent: ("ready", mss), ("rtt", [s, ...]), ("need", sent) when the
    given due times are used up (answered by ("more", offsets) or ("stop",)), ("finished", sent,
    lateness p50, p99); ("error", text) on failure.
    """
    try:
        if ns:
            _enter_netns(ns)
        sock = socket.create_connection((host, port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        sock.settimeout(None)
        mss = int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)) if ns else 1448
        conn.send(("ready", mss))
        perf = time.perf_counter
        rtts = []
        for _ in range(pings):
            t0 = perf()
            sock.sendall(HEADER.pack(_PING, 0, t0))
            if not sock.recv(1):
                raise ConnectionError("the edge closed the connection during the pings")
            rtts.append(perf() - t0)
            time.sleep(0.002)
        conn.send(("rtt", rtts))
        msg = conn.recv()
        if msg[0] != "go":
            return
        _, t_start, offsets = msg
        due = list(t_start + np.asarray(offsets, dtype=float))
        payload = os.urandom(int(frame_bytes))       # incompressible; the edge does not decode
        bucket = TokenBucket(bucket_bps, mss=mss) if bucket_bps else None
        late, i = [], 0
        while True:
            if i == len(due):
                conn.send(("need", i))
                reply = conn.recv()
                if reply[0] != "more":
                    break
                due.extend((due[-1] + np.asarray(reply[1], dtype=float)).tolist())
            dt = due[i] - perf()
            if dt > 0:
                time.sleep(dt)
            data = HEADER.pack(i, len(payload), due[i]) + payload
            late.append(perf() - due[i])
            if bucket is None:
                sock.sendall(data)
            else:
                bucket.send(data, sock.sendall)
            i += 1
        q = np.quantile(late, [0.5, 0.99]) if late else [float("nan")] * 2
        conn.send(("finished", i, float(q[0]), float(q[1])))
        conn.recv()                                    # ("close",): the edge has read it all
        sock.close()
    except BaseException as exc:  # report, do not hang the parent
        try:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        except OSError:
            pass


class SocketArrivals:
    """The dispatcher's arrival source for frames from the camera (see :mod:`.testbed_pool`)."""

    def __init__(self, sock: socket.socket, ctrl, extend: Callable[[int], Optional[np.ndarray]]):
        sock.setblocking(False)
        self.sock, self.ctrl, self.extend = sock, ctrl, extend
        self.buf = bytearray()
        self.received = 0
        self.expected: Optional[int] = None
        self.camera_lateness: tuple = (None, None)
        self.error: Optional[str] = None

    def readables(self) -> list:
        return [self.sock, self.ctrl]

    def next_due(self) -> float:
        return float("inf")

    def poll(self, now: float) -> list[tuple[int, float]]:
        while self.ctrl.poll():
            msg = self.ctrl.recv()
            if msg[0] == "need":
                more = self.extend(msg[1])
                self.ctrl.send(("more", more) if more is not None and len(more) else ("stop",))
            elif msg[0] == "finished":
                self.expected, self.camera_lateness = msg[1], (msg[2], msg[3])
            elif msg[0] == "error":
                self.error, self.expected = f"camera: {msg[1]}", self.received
        while True:
            try:
                chunk = self.sock.recv(1 << 20)
            except (BlockingIOError, InterruptedError):
                break
            if not chunk:
                if self.expected is None:
                    self.error, self.expected = "the camera closed the connection", self.received
                break
            self.buf += chunk
        out, buf, h = [], self.buf, HEADER.size
        pos = 0
        while len(buf) - pos >= h:
            rid, n, due = HEADER.unpack_from(buf, pos)
            if len(buf) - pos < h + n:
                break
            pos += h + n
            out.append((rid, due))
        del buf[:pos]
        self.received += len(out)
        return out

    def done(self) -> bool:
        return self.expected is not None and self.received >= self.expected


# ============================================================================================
# the whole comparison


def twotier_scenario(workers: int, rate: float, n: int, service: dict, seed: int,
                     batching: Batching, rate_bps: float, latency_s: float, frame_bytes: int,
                     header_bytes: float) -> dict:
    """The simulated twin: camera -> shaped link -> edge node (W executors, batching)."""
    horizon = n / rate * 4 + 120
    return {
        "name": f"testbed-two-tier-w{workers}",
        "description": "edgesim testbed --two-tier: camera, shaped link, edge with batching",
        "seed": int(seed), "duration": float(horizon), "max_completions": int(n),
        "nodes": {"camera": {"count": 1, "role": "camera", "executors": 1},
                  "edge": {"count": 1, "role": "edge", "executors": int(workers), "queue": "fifo",
                           "max_batch": int(batching.max_batch),
                           "max_wait": float(batching.max_wait_s)}},
        # the reverse direction carries only TCP's acknowledgements: not shaped
        "links": {"shaped": {"ends": ["camera", "edge"], "bandwidth": float(rate_bps),
                             "up": float(rate_bps), "down": 1e10, "latency": float(latency_s)}},
        # one TCP connection: frames leave in order, one after another
        "network": {"max_in_flight": 1, "header_bytes": float(header_bytes)},
        "workload": {
            "sources": {"frames": {"at": "camera", "job": "infer", "limit": int(n),
                                   "arrivals": {"process": "poisson", "rate": float(rate)}}},
            "jobs": {"infer": {"stages": [{"model": "model", "node": "edge",
                                           "bytes": float(frame_bytes)}]}},
        },
        "service": {"model": {"cpu": service}},
        "metrics": {"interval": float(max(horizon / 100, 1.0))},
    }


class _Camera:
    """One camera process connected to this (edge) process, for one configuration."""

    def __init__(self, ctx, link: Optional[NetnsLink], frame_bytes: int,
                 bucket_bps: Optional[float], pings: int = 30) -> None:
        host = link.edge_ip if link else "127.0.0.1"
        self.lsock = socket.create_server((host, 0))
        self.lsock.settimeout(60)
        self.ctrl, child = ctx.Pipe()
        self.proc = ctx.Process(target=_camera_main, name="edgesim-camera", daemon=True,
                                args=(link.ns if link else None, host, self.lsock.getsockname()[1],
                                      frame_bytes, bucket_bps, pings, child))
        self.proc.start()
        child.close()
        try:
            self.sock, _ = self.lsock.accept()
        except socket.timeout:
            self.close()
            raise LinkError("the camera process did not connect within 60 s") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.mss = self._expect("ready")[1]
        for _ in range(pings):                       # echo the camera's round-trip pings
            hdr = self._recv_exact(HEADER.size)
            if HEADER.unpack(hdr)[0] != _PING:
                raise LinkError("the camera sent a frame before its pings were over")
            self.sock.sendall(b"p")
        self.rtt = list(self._expect("rtt")[1])

    def _expect(self, tag: str) -> tuple:
        if not self.ctrl.poll(60):
            raise LinkError(f"the camera did not answer ({tag!r}) within 60 s")
        msg = self.ctrl.recv()
        if msg[0] == "error":
            raise LinkError(f"camera: {msg[1]}")
        if msg[0] != tag:
            raise LinkError(f"camera: expected {tag!r}, got {msg[0]!r}")
        return msg

    def _recv_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            part = self.sock.recv(n - len(buf))
            if not part:
                raise LinkError("the camera closed the connection")
            buf += part
        return buf

    def close(self) -> None:
        try:
            self.ctrl.send(("close",))
        except (OSError, BrokenPipeError):
            pass
        self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout=5)
        for s in (getattr(self, "sock", None), self.lsock):
            if s is not None:
                s.close()


def run_twotier(bundle, model: str, workers: Sequence[int] = (1, 2),
                loads: Sequence[float] = (0.5, 0.8), link: str = "auto",
                rate_bps: Optional[float] = None, link_load: float = 0.5,
                frame_bytes: int = 20_000, requests: int = 2000, threads: int = 1, seed: int = 0,
                warmup: float = 0.05, timeout_s: float = 600.0,
                sim_requests: Optional[int] = None, replay: bool = False,
                progress: Optional[Callable[[str], None]] = None,
                batchings: Sequence[Batching] = (Batching(),), service: str = "served",
                order: str = "replay", max_requests: Optional[int] = None,
                ci_frac: float = 1.0, malloc: Optional[str] = None,
                served_match: str = "workers") -> dict:
    """Real two-tier runs and their simulations for every (workers, load, batching).

    The link rate is ``rate_bps``, or else per configuration the rate at which the frames'
    wire bytes load the link to ``link_load``. ``link``: "netns", "bucket" or "auto" (netns
    where :func:`netns_problem` finds nothing against it). The rest as in
    :func:`edgesim.calibration.testbed.run.run_testbed` (``replay`` is not supported here).
    Returns its structure, with ``link`` and per row ``link_rate_bps``, ``link_latency_ms``,
    ``network_mean_ms`` (real: due time to the last byte read) and ``camera_lateness_p99_ms``.
    """
    import multiprocessing as mp
    if link not in ("auto", "netns", "bucket"):
        raise ValueError(f"link must be auto, netns or bucket, got {link!r}")
    if frame_bytes < 1 or not 0 < link_load < 1:
        raise ValueError("frame_bytes must be >= 1 and link_load in (0, 1)")
    if rate_bps is not None and not rate_bps > 0:
        raise ValueError(f"rate_bps must be > 0, got {rate_bps!r}")
    why = netns_problem()
    if link == "netns" and why:
        raise LinkError(f"--link netns: {why}")
    kind = "bucket" if link == "bucket" or (link == "auto" and why) else "netns"
    plan = Plan(bundle, model, workers, threads, service, order, requests, max_requests,
                sim_requests, ci_frac, malloc, served_match)
    say = progress or (lambda msg: None)
    ctx = mp.get_context("spawn")
    mb_all = max(bt.max_batch for bt in batchings)
    rows: list = []
    net = NetnsLink(rate_bps or 1e8) if kind == "netns" else None
    try:
        for w in sorted(dict.fromkeys(int(x) for x in workers)):
            say(f"starting {w} worker process(es) for {model} ...")
            with WorkerPool(model, w, threads, malloc=plan.malloc, max_batch=mb_all) as pool:
                for j, (load, bt) in enumerate((ld, bt) for ld in loads for bt in batchings):
                    rows.append(_one(plan, pool, ctx, net, kind, w, load, bt, seed + 1000 * w + j,
                                     rate_bps, link_load, frame_bytes, warmup, timeout_s, say))
    finally:
        if net is not None:
            net.close()
    out = plan.result(rows, {"workers": list(workers), "loads": list(loads), "seed": seed,
                             "warmup": warmup, "timeout_s": timeout_s, "replay": False,
                             "batching": [bt.label for bt in batchings], "two_tier": True,
                             "link": kind, "frame_bytes": frame_bytes, "link_load": link_load})
    out["link"] = (f"{kind}: " + ("veth pair into a network namespace, tc tbf on the camera's "
                                  "end" if kind == "netns" else "token bucket in the camera "
                                  "process, loopback TCP")
                   + (f" ({why})" if kind == "bucket" and why else "")
                   + f"; frames of {frame_bytes} B")
    return out


def _one(plan: Plan, pool: WorkerPool, ctx, net: Optional[NetnsLink], kind: str, w: int,
         load: float, bt: Batching, rs: int, rate_bps: Optional[float], link_load: float,
         frame_bytes: int, warmup: float, timeout_s: float, say: Callable[[str], None]) -> dict:
    """One two-tier configuration: camera, real run, simulation, figures."""
    rate = plan.rate(load, w)
    bps = rate_bps or rate * 8 * wire_bytes(frame_bytes) / link_load
    if net is not None:
        net.set_rate(bps)
    cam = _Camera(ctx, net, frame_bytes, bps if kind == "bucket" else None)
    try:
        if rate_bps is None and cam.mss != 1448:             # size the link on the real MSS
            bps = rate * 8 * wire_bytes(frame_bytes, cam.mss) / link_load
            if net is not None:
                net.set_rate(bps)
        latency = float(np.median(cam.rtt)) / 2 if cam.rtt else 0.0
        say(f"two-tier W={w} load={load} batching={bt.label}: {rate:.2f} frames/s over "
            f"{bps / 1e6:.2f} Mbit/s ({kind}, one-way {latency * 1e3:.3f} ms), {plan.requests} to "
            f"{plan.cap} frames")
        state: dict = {"ci_history": []}
        offsets = arrival_offsets(rate, plan.requests, np.random.default_rng(rs))
        t0 = time.perf_counter() + 0.1
        src = SocketArrivals(cam.sock, cam.ctrl,
                             _extender(pool, state, rate, plan.requests, plan.cap, warmup,
                                       plan.ci_abs, rs, start_key="created"))
        cam.ctrl.send(("go", t0, offsets))
        raw = pool.serve(src, bt, plan.cap, timeout_s)
        if src.error:
            raw["error"] = raw["error"] or src.error
    finally:
        cam.close()
    for k in ("created", "arrival", "finish", "svc_start", "svc_end"):
        raw[k] = raw[k] - t0
    n = int(raw["sent"])
    real = latency_stats(raw["created"][:n], raw["finish"][:n], warmup)
    m_obj, note = plan.model_for(w, bt, load)
    header = wire_bytes(frame_bytes, cam.mss) - frame_bytes
    sc = twotier_scenario(w, rate, plan.sim_n, plan.spec, rs, bt, bps, latency, frame_bytes,
                          header)
    sim_raw = run_scenario(sc, m_obj)
    sim = latency_stats(sim_raw["arrival"], sim_raw["finish"], warmup)
    row = _row(w, load, bt, rate, raw, n, real, sim, plan.svc, plan.cores, state)
    if plan.service == "served":                     # the same real run, the old prediction
        base = run_scenario(sc, plan.b2b if bt.max_batch > 1 else None)
        row["baseline"] = latency_stats(base["arrival"], base["finish"], warmup)
        row["baseline_metrics"] = compare(real, row["baseline"])
    net_ms = (raw["arrival"] - raw["created"])[:n]
    row.update(service_note=note, link_rate_bps=bps, link_latency_ms=latency * 1e3,
               header_bytes=header, mss=cam.mss,
               network_mean_ms=float(np.nanmean(net_ms) * 1e3) if n else None,
               link_utilisation=rate * 8 * (frame_bytes + header) / bps,
               camera_lateness_p99_ms=None if src.camera_lateness[1] is None
               else src.camera_lateness[1] * 1e3)
    row["dispatch_lag_p99_ms"] = row["camera_lateness_p99_ms"]
    return row
