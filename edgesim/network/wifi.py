"""Shared Wi-Fi medium models: Bianchi's DCF saturation model and the 802.11 performance anomaly.

Pure functions and small frozen dataclasses (no SimPy), cheap enough for the flow network to call
whenever the set of active stations in a cell changes. SI units throughout: seconds, bits/s, bytes.
Formulas, parameter tables, sources and limits are in docs/guides/network.md.

References
    [B00]  G. Bianchi, "Performance Analysis of the IEEE 802.11 Distributed Coordination Function",
           IEEE JSAC 18(3), 2000 (fixed point eqs. 7 and 9, throughput eq. 13, T_s/T_c eqs. 14-15).
    [H03]  M. Heusse, F. Rousseau, G. Berger-Sabbatel, A. Duda, "Performance Anomaly of 802.11b",
           IEEE INFOCOM 2003.
    [S12]  IEEE Std 802.11-2012: HR/DSSS PHY characteristics (Clause 17), OFDM PHY characteristics
           (Clause 18), ERP (Clause 19), HT PLCP timing (Clause 20).
    [S16]  IEEE Std 802.11-2016: VHT PHY (Clause 21) and the same DSSS/OFDM/ERP/HT tables.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, List, Sequence, Tuple, Union

__all__ = [
    "PhyStandard", "PHY", "BIANCHI_2000_FHSS", "bianchi_tau_p", "bianchi_saturation_throughput",
    "performance_anomaly", "cell_shares", "phy",
]

US = 1e-6  # one microsecond


@dataclass(frozen=True)
class PhyStandard:
    """MAC/PHY timing of one 802.11 flavour.

    ``preamble_s`` is the whole PLCP preamble + PHY header time of one PPDU (it does not depend
    on the data rate). ``symbol_s`` > 0 means an OFDM PHY: the PSDU plus ``service_tail_bits``
    is padded to whole symbols of ``data_rate * symbol_s`` bits; 0 means bits are sent back to
    back (DSSS/FHSS, and Bianchi's model). ``signal_ext_s`` is appended to every PPDU (802.11g).
    Control frames (ACK, RTS, CTS) go at ``min(basic_rate_bps, data rate)``.
    """

    name: str
    slot_s: float
    sifs_s: float
    difs_s: float
    cw_min: int
    cw_max: int
    preamble_s: float
    mac_header_bytes: int          # MAC header + FCS of a data frame
    ack_bytes: int = 14
    rts_bytes: int = 20
    cts_bytes: int = 14
    basic_rate_bps: float = 1e6
    data_rate_bps: float = 11e6
    symbol_s: float = 0.0
    service_tail_bits: int = 0
    signal_ext_s: float = 0.0
    source: str = ""

    def __post_init__(self) -> None:
        for f in ("slot_s", "sifs_s", "difs_s", "preamble_s", "basic_rate_bps", "data_rate_bps"):
            v = getattr(self, f)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"PhyStandard {self.name!r}: {f} must be finite and > 0, got {v!r}")
        if self.cw_min < 1 or self.cw_max < self.cw_min:
            raise ValueError(f"PhyStandard {self.name!r}: need 1 <= cw_min <= cw_max")
        ratio = (self.cw_max + 1) / (self.cw_min + 1)
        m = round(math.log2(ratio))
        if 2 ** m != ratio:
            raise ValueError(f"PhyStandard {self.name!r}: (cw_max+1)/(cw_min+1) = {ratio} is not a "
                             "power of 2")

    @property
    def W(self) -> int:
        """Bianchi's minimum window W = CWmin + 1 (backoff uniform in 0..W-1)."""
        return self.cw_min + 1

    @property
    def m(self) -> int:
        """Bianchi's maximum backoff stage m = log2((CWmax + 1) / (CWmin + 1))."""
        return round(math.log2((self.cw_max + 1) / (self.cw_min + 1)))

    def ppdu_time(self, nbytes: float, rate_bps: float) -> float:
        """Air time of a PPDU carrying ``nbytes`` of MAC frame at ``rate_bps`` (seconds)."""
        bits = 8.0 * nbytes
        if self.symbol_s > 0:
            ndbps = rate_bps * self.symbol_s
            nsym = math.ceil((bits + self.service_tail_bits) / ndbps - 1e-9)
            body = nsym * self.symbol_s
        else:
            body = bits / rate_bps
        return self.preamble_s + body + self.signal_ext_s

    def control_rate(self, data_rate_bps: float) -> float:
        return min(self.basic_rate_bps, data_rate_bps)

    def data_time(self, payload_bytes: float, rate_bps: float) -> float:
        """Data frame (MAC header + payload + FCS) air time."""
        return self.ppdu_time(self.mac_header_bytes + payload_bytes, rate_bps)

    def ack_time(self, data_rate_bps: float) -> float:
        return self.ppdu_time(self.ack_bytes, self.control_rate(data_rate_bps))


# --- presets -------------------------------------------------------------------------------------
# Timing from the PHY characteristics tables of IEEE 802.11-2012 / -2016 (aSlotTime, aSIFSTime,
# aCWmin, aCWmax, preamble/PLCP header lengths); DIFS = SIFS + 2 slots (802.11-2012 9.3.7).
# MAC header: 24 B (3-address data) + 4 B FCS = 28 B; QoS data (n/ac): 26 + 4 = 30 B.
# ACK 14 B, RTS 20 B, CTS 14 B (802.11-2012 8.3.1).
PHY: Dict[str, PhyStandard] = {
    # HR/DSSS, long preamble: 144 us preamble + 48 us PLCP header, both at 1 Mbit/s (Clause 17).
    "802.11b": PhyStandard(
        "802.11b", slot_s=20 * US, sifs_s=10 * US, difs_s=50 * US, cw_min=31, cw_max=1023,
        preamble_s=192 * US, mac_header_bytes=28, basic_rate_bps=1e6, data_rate_bps=11e6,
        source="IEEE 802.11-2012 Table 17-16 (HR/DSSS), long preamble"),
    # OFDM 5 GHz, 20 MHz: 16 us preamble + 4 us SIGNAL, 4 us symbols, 16 SERVICE + 6 tail bits
    # (Clause 18, Table 18-17). ACK at 24 Mbit/s (highest mandatory rate <= 54).
    "802.11a": PhyStandard(
        "802.11a", slot_s=9 * US, sifs_s=16 * US, difs_s=34 * US, cw_min=15, cw_max=1023,
        preamble_s=20 * US, mac_header_bytes=28, basic_rate_bps=24e6, data_rate_bps=54e6,
        symbol_s=4 * US, service_tail_bits=22,
        source="IEEE 802.11-2012 Table 18-17 (OFDM, 20 MHz)"),
    # ERP-OFDM, ERP-only BSS (short slot 9 us, CWmin 15; a BSS with 11b stations uses 20 us / 31).
    # Choice: SIFS = 10 us as in the standard plus the 6 us signal extension counted in every
    # PPDU's air time, so SIFS gaps behave like 802.11a's 16 us; DIFS = 10 + 2*9 = 28 us.
    "802.11g": PhyStandard(
        "802.11g", slot_s=9 * US, sifs_s=10 * US, difs_s=28 * US, cw_min=15, cw_max=1023,
        preamble_s=20 * US, mac_header_bytes=28, basic_rate_bps=24e6, data_rate_bps=54e6,
        symbol_s=4 * US, service_tail_bits=22, signal_ext_s=6 * US,
        source="IEEE 802.11-2012 Table 19-8 (ERP), short slot, aSignalExtension 6 us"),
    # HT mixed format, 1 spatial stream, 20 MHz, MCS7, 800 ns GI = 65 Mbit/s; preamble
    # L-STF 8 + L-LTF 8 + L-SIG 4 + HT-SIG 8 + HT-STF 4 + 1 HT-LTF 4 = 36 us (Clause 20).
    "802.11n": PhyStandard(
        "802.11n", slot_s=9 * US, sifs_s=16 * US, difs_s=34 * US, cw_min=15, cw_max=1023,
        preamble_s=36 * US, mac_header_bytes=30, basic_rate_bps=24e6, data_rate_bps=65e6,
        symbol_s=4 * US, service_tail_bits=22,
        source="IEEE 802.11-2012 Clause 20 (HT-mixed, 1 SS, 20 MHz, MCS7, long GI)"),
    # VHT, 1 spatial stream, 80 MHz, MCS9, 800 ns GI = 390 Mbit/s; preamble L-STF 8 + L-LTF 8 +
    # L-SIG 4 + VHT-SIG-A 8 + VHT-STF 4 + 1 VHT-LTF 4 + VHT-SIG-B 4 = 40 us (Clause 21).
    "802.11ac": PhyStandard(
        "802.11ac", slot_s=9 * US, sifs_s=16 * US, difs_s=34 * US, cw_min=15, cw_max=1023,
        preamble_s=40 * US, mac_header_bytes=30, basic_rate_bps=24e6, data_rate_bps=390e6,
        symbol_s=4 * US, service_tail_bits=22,
        source="IEEE 802.11-2016 Clause 21 (VHT, 1 SS, 80 MHz, MCS9, long GI)"),
}

#: The FHSS parameters of Bianchi 2000, Table II (1 Mbit/s channel, W = 32, m = 3 as in its Fig. 6):
#: MAC header 272 bits, PHY header 128 bits, ACK 112 bits + PHY header, RTS 160, CTS 112 bits,
#: slot 50 us, SIFS 28 us, DIFS 128 us. Use with payload_bytes=1023 (8184 bits).
BIANCHI_2000_FHSS = PhyStandard(
    "bianchi2000-fhss", slot_s=50 * US, sifs_s=28 * US, difs_s=128 * US, cw_min=31, cw_max=255,
    preamble_s=128 * US, mac_header_bytes=34, ack_bytes=14, rts_bytes=20, cts_bytes=14,
    basic_rate_bps=1e6, data_rate_bps=1e6, source="Bianchi 2000, Table II (FHSS)")

StdLike = Union[str, PhyStandard]


def phy(std: StdLike) -> PhyStandard:
    """Resolve a preset name or pass a :class:`PhyStandard` through."""
    if isinstance(std, PhyStandard):
        return std
    try:
        return PHY[std]
    except KeyError:
        raise ValueError(f"unknown Wi-Fi standard {std!r}; known: {sorted(PHY)}") from None


# --- Bianchi fixed point -------------------------------------------------------------------------
def _tau_of_p(p: float, W: int, m: int) -> float:
    # Bianchi eq. 7, tau = 2(1-2p) / ((1-2p)(W+1) + pW(1-(2p)^m)), divided through by (1-2p):
    # (1-(2p)^m)/(1-2p) = sum_{k<m} (2p)^k, which removes the 0/0 at p = 1/2.
    geom = sum((2.0 * p) ** k for k in range(m))
    return 2.0 / (W + 1.0 + p * W * geom)


@lru_cache(maxsize=4096)
def bianchi_tau_p(n: int, W: int, m: int) -> Tuple[float, float]:
    """Bianchi's fixed point: (tau, p) for ``n`` saturated stations, min window W, max stage m.

    Solves g(p) = p - (1 - (1 - tau(p))^(n-1)) = 0 by bisection on [0, 1]; g is increasing
    (tau decreases with p), g(0) <= 0 < g(1), so the root is unique. n = 1 gives p = 0.
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    if int(W) != W or W < 1 or int(m) != m or m < 0:
        raise ValueError(f"need integer W >= 1 and m >= 0, got W={W!r}, m={m!r}")
    n, W, m = int(n), int(W), int(m)
    if n == 1:
        return _tau_of_p(0.0, W, m), 0.0
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        g = mid - (1.0 - (1.0 - _tau_of_p(mid, W, m)) ** (n - 1))
        if g < 0:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-16:
            break
    p = 0.5 * (lo + hi)
    return _tau_of_p(p, W, m), p


def _exchange_times(st: PhyStandard, payload_bytes: float, rate: float, access: str,
                    prop_s: float) -> Tuple[float, float]:
    """(T_s, T_c) of Bianchi eqs. 14 (basic) and 15 (RTS/CTS); T_DATA = H + E[P]."""
    t_data = st.data_time(payload_bytes, rate)
    t_ack = st.ack_time(rate)
    ts = t_data + st.sifs_s + prop_s + t_ack + st.difs_s + prop_s
    if access == "basic":
        return ts, t_data + st.difs_s + prop_s
    if access == "rts":
        crate = st.control_rate(rate)
        t_rts, t_cts = st.ppdu_time(st.rts_bytes, crate), st.ppdu_time(st.cts_bytes, crate)
        return (t_rts + st.sifs_s + prop_s + t_cts + st.sifs_s + prop_s + ts,
                t_rts + st.difs_s + prop_s)
    raise ValueError(f"access must be 'basic' or 'rts', got {access!r}")


def bianchi_saturation_throughput(n: int, std: StdLike = "802.11b", payload_bytes: float = 1500,
                                  data_rate_bps: float | None = None, access: str = "basic",
                                  prop_delay_s: float = 1e-6) -> float:
    """Aggregate saturation throughput (payload bits/s) of ``n`` identical stations [B00 eq. 13].

    S = P_s P_tr E[P] / ((1 - P_tr) sigma + P_tr P_s T_s + P_tr (1 - P_s) T_c), with
    P_tr = 1 - (1 - tau)^n and P_s = n tau (1 - tau)^(n-1) / P_tr; E[P] is in bits here.
    """
    st = phy(std)
    rate = st.data_rate_bps if data_rate_bps is None else float(data_rate_bps)
    _check_payload_rate(payload_bytes, rate)
    tau, _p = bianchi_tau_p(n, st.W, st.m)
    ts, tc = _exchange_times(st, payload_bytes, rate, access, prop_delay_s)
    p_idle = (1.0 - tau) ** n
    p_tr = 1.0 - p_idle
    p_succ = n * tau * (1.0 - tau) ** (n - 1)           # = P_tr * P_s
    slot = p_idle * st.slot_s + p_succ * ts + (p_tr - p_succ) * tc
    return p_succ * 8.0 * payload_bytes / slot


def _check_payload_rate(payload_bytes: float, rate: float) -> None:
    if not (math.isfinite(payload_bytes) and payload_bytes > 0):
        raise ValueError(f"payload_bytes must be finite and > 0, got {payload_bytes!r}")
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"PHY rates must be finite and > 0, got {rate!r}")


# --- performance anomaly ([H03]) -----------------------------------------------------------------
@lru_cache(maxsize=4096)
def _anomaly(rates: Tuple[float, ...], st: PhyStandard, payload_bytes: float) -> float:
    n = len(rates)
    # T_i = t_tr(r_i) + t_ov(r_i) + t_cont(N): t_tr + PLCP = data frame air time; t_ov adds
    # DIFS + SIFS + ACK (its own PLCP preamble included); t_cont(N) = slot * CWmin / (2N).
    t_cont = st.slot_s * st.cw_min / (2.0 * n)
    T = sorted(st.data_time(payload_bytes, r) + st.sifs_s + st.ack_time(r) + st.difs_s + t_cont
               for r in rates)
    if n == 1:
        return 8.0 * payload_bytes / T[0]
    p_c = 1.0 - (1.0 - 1.0 / st.W) ** (n - 1)
    # t_jam: mean over the n(n-1)/2 pairs of max(T_i, T_j); in ascending order T[k] is the
    # maximum of k pairs. One slow host among N gives Heusse's 2/N T_s + (1 - 2/N) T_f.
    t_jam = sum(k * T[k] for k in range(n)) / (n * (n - 1) / 2.0)
    return 8.0 * payload_bytes / (sum(T) + n * p_c * t_jam)


def performance_anomaly(rates_bps: Sequence[float], std: StdLike = "802.11b",
                        payload_bytes: float = 1500) -> List[float]:
    """Per-station throughput (bits/s) of saturated stations at different PHY rates [H03].

    Every station gets the same x = s_d / (sum_i T_i + N P_c(N) t_jam), with
    T_i = DIFS + PLCP + (MAC header + s_d)/r_i + SIFS + ACK(r_i) + slot CWmin / (2N),
    P_c(N) = 1 - (1 - 1/(CWmin+1))^(N-1), t_jam = mean over station pairs of max(T_i, T_j).
    """
    st = phy(std)
    rates = tuple(float(r) for r in rates_bps)
    if not rates:
        return []
    for r in rates:
        _check_payload_rate(payload_bytes, r)
    return [_anomaly(tuple(sorted(rates)), st, float(payload_bytes))] * len(rates)


# --- cell shares -----------------------------------------------------------------------------------
@lru_cache(maxsize=4096)
def _dcf_share(rates: Tuple[float, ...], st: PhyStandard, payload_bytes: float, access: str,
               prop_s: float) -> float:
    """Per-station throughput of Bianchi's model with per-station rates (equal tau for all)."""
    n = len(rates)
    tau, _p = bianchi_tau_p(n, st.W, st.m)
    times = [_exchange_times(st, payload_bytes, r, access, prop_s) for r in rates]
    q = 1.0 - tau
    p_one = tau * q ** (n - 1)                     # a given station transmits alone
    busy = p_one * sum(ts for ts, _tc in times)
    # A collision lasts as long as its longest frame: with T_c sorted ascending, station k is
    # the longest colliding one w.p. tau (1 - q^k) q^(n-1-k) (some of the k shorter ones also send).
    for k, tc in enumerate(sorted(tc for _ts, tc in times)):
        busy += tc * tau * (1.0 - q ** k) * q ** (n - 1 - k)
    slot = q ** n * st.slot_s + busy
    return p_one * 8.0 * payload_bytes / slot


def cell_shares(phy_rates_bps: Sequence[float], mode: str = "dcf", std: StdLike = "802.11b",
                payload_bytes: float = 1500, access: str = "basic",
                prop_delay_s: float = 1e-6) -> List[float]:
    """Throughput (bits/s) each of the given saturated stations of one cell gets.

    ``mode``:
      * ``"fair-share"``: equal air time, station i gets r_i / n (no MAC overhead).
      * ``"dcf"``: Bianchi's model with every station at its own rate; all stations share one
        tau (same backoff), so each gets the same frame rate and the same throughput
        x = tau (1-tau)^(n-1) 8 L / E[slot] -- a slow station pulls everyone down.
        With equal rates this is exactly bianchi_saturation_throughput(n) / n.
      * ``"anomaly"``: Heusse et al.'s closed form, :func:`performance_anomaly`.
    Results are cached by (rates, std, payload, access); the fixed point by (n, W, m).
    """
    rates = tuple(float(r) for r in phy_rates_bps)
    n = len(rates)
    if n == 0:
        return []
    st = phy(std)
    for r in rates:
        _check_payload_rate(payload_bytes, r)
    if mode == "fair-share":
        return [r / n for r in rates]
    if mode == "dcf":
        return [_dcf_share(tuple(sorted(rates)), st, float(payload_bytes), access, float(prop_delay_s))] * n
    if mode == "anomaly":
        return performance_anomaly(rates, st, payload_bytes)
    raise ValueError(f"mode must be 'dcf', 'fair-share' or 'anomaly', got {mode!r}")
