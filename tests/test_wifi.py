"""Wi-Fi medium models against computations written here, independently of edgesim.network.wifi.

Reference values use the formulas of Bianchi 2000 (JSAC 18(3)) and Heusse et al. 2003 (INFOCOM),
evaluated with scipy's brentq, brute-force enumeration and hand-written timing arithmetic.
"""
from __future__ import annotations

import itertools
import math

import pytest
from scipy.optimize import brentq

from edgesim.network.wifi import (BIANCHI_2000_FHSS, PHY, PhyStandard, bianchi_saturation_throughput,
                                  bianchi_tau_p, cell_shares, performance_anomaly)

US = 1e-6


# --- independent Bianchi fixed point (solved on tau, not p, with the original eq. 7) -------------
def ref_tau_p(n: int, W: int, m: int) -> tuple[float, float]:
    def tau_of_p(p: float) -> float:
        if abs(1 - 2 * p) < 1e-9:                   # removable 0/0 at p = 1/2
            return 2.0 / (W + 1 + p * W * m)
        return 2 * (1 - 2 * p) / ((1 - 2 * p) * (W + 1) + p * W * (1 - (2 * p) ** m))

    if n == 1:
        return 2.0 / (W + 1), 0.0
    tau = brentq(lambda t: t - tau_of_p(1 - (1 - t) ** (n - 1)), 1e-12, 1.0, xtol=1e-15, rtol=1e-15)
    return tau, 1 - (1 - tau) ** (n - 1)


def ref_S(n, W, m, sigma, Ts, Tc, payload):
    """Bianchi eq. 13 with times in any unit; payload in the same unit (time) or bits."""
    tau, _ = ref_tau_p(n, W, m)
    ptr = 1 - (1 - tau) ** n
    ps = n * tau * (1 - tau) ** (n - 1) / ptr
    return ps * ptr * payload / ((1 - ptr) * sigma + ptr * ps * Ts + ptr * (1 - ps) * Tc)


# Bianchi 2000 Table II (FHSS, 1 Mbit/s): all lengths in bits = microseconds.
B = dict(payload=8184, mac=272, phy=128, ack=112 + 128, rts=160 + 128, cts=112 + 128, delta=1,
         slot=50, sifs=28, difs=128)


def bianchi_fhss_times(access: str) -> tuple[float, float]:
    H = B["phy"] + B["mac"]
    if access == "basic":
        Ts = H + B["payload"] + B["sifs"] + B["delta"] + B["ack"] + B["difs"] + B["delta"]
        Tc = H + B["payload"] + B["difs"] + B["delta"]
    else:
        Ts = (B["rts"] + B["sifs"] + B["delta"] + B["cts"] + B["sifs"] + B["delta"] + H + B["payload"]
              + B["sifs"] + B["delta"] + B["ack"] + B["difs"] + B["delta"])
        Tc = B["rts"] + B["difs"] + B["delta"]
    return Ts, Tc


@pytest.mark.parametrize("W,m", [(32, 3), (32, 5), (16, 6), (128, 3)])
def test_fixed_point_matches_independent_solver_and_both_equations(W, m):
    for n in range(1, 51):
        tau, p = bianchi_tau_p(n, W, m)
        rtau, rp = ref_tau_p(n, W, m)
        assert tau == pytest.approx(rtau, rel=1e-9, abs=1e-14)
        assert p == pytest.approx(rp, rel=1e-9, abs=1e-14)
        # both of Bianchi's equations hold at the returned point
        assert p == pytest.approx(1 - (1 - tau) ** (n - 1), rel=1e-10, abs=1e-14)
        if abs(1 - 2 * p) > 1e-6:
            rhs = 2 * (1 - 2 * p) / ((1 - 2 * p) * (W + 1) + p * W * (1 - (2 * p) ** m))
            assert tau == pytest.approx(rhs, rel=1e-9)


def test_fixed_point_n1_and_bad_input():
    assert bianchi_tau_p(1, 32, 5) == (pytest.approx(2 / 33), 0.0)
    for bad in [(0, 32, 3), (2.5, 32, 3), (3, 0, 3), (3, 32, -1)]:
        with pytest.raises(ValueError):
            bianchi_tau_p(*bad)


@pytest.mark.parametrize("access", ["basic", "rts"])
def test_bianchi_fhss_throughput_n1_to_50(access):
    Ts, Tc = bianchi_fhss_times(access)
    for n in range(1, 51):
        ref = ref_S(n, 32, 3, B["slot"], Ts, Tc, B["payload"])           # normalised, 1 Mbit/s
        got = bianchi_saturation_throughput(n, BIANCHI_2000_FHSS, payload_bytes=1023, access=access)
        assert got / 1e6 == pytest.approx(ref, rel=1e-9)                   # brief asks 3 %
        assert 0.5 < ref < 0.9


def test_bianchi_fhss_parameters_as_published():
    st = BIANCHI_2000_FHSS
    assert (st.W, st.m) == (32, 3)
    assert (st.slot_s, st.sifs_s, st.difs_s) == (50 * US, 28 * US, 128 * US)
    assert st.data_time(1023, 1e6) == pytest.approx((128 + 272 + 8184) * US)
    assert st.ack_time(1e6) == pytest.approx(240 * US)


def test_80211b_preset_throughput_by_hand():
    # 802.11b long preamble 192 us, 11 Mbit/s data, ACK (14 B) at 1 Mbit/s, 28 B MAC header+FCS.
    Ts = 192 + (28 + 1500) * 8 / 11 + 10 + 1 + 192 + 112 + 50 + 1
    Tc = 192 + (28 + 1500) * 8 / 11 + 50 + 1
    for n in [1, 2, 5, 10, 20, 50]:
        ref = ref_S(n, 32, 5, 20 * US, Ts * US, Tc * US, 1500 * 8)
        assert bianchi_saturation_throughput(n, "802.11b") == pytest.approx(ref, rel=1e-9)
    one = bianchi_saturation_throughput(1, "802.11b")
    assert 5.5e6 < one < 6.5e6          # the well-known ~6 Mbit/s of one saturated 11b station


def test_ofdm_preset_symbol_rounding_by_hand():
    # 802.11a 54 Mbit/s: 216 data bits per 4 us symbol; PSDU 1528 B + 22 SERVICE/tail bits.
    nsym = math.ceil((16 + 6 + 8 * 1528) / 216)
    t_data = 20 + 4 * nsym
    t_ack = 20 + 4 * math.ceil((22 + 112) / 96)                  # ACK at 24 Mbit/s
    Ts = t_data + 16 + 1 + t_ack + 34 + 1
    Tc = t_data + 34 + 1
    ref = ref_S(10, 16, 6, 9 * US, Ts * US, Tc * US, 1500 * 8)
    assert bianchi_saturation_throughput(10, "802.11a") == pytest.approx(ref, rel=1e-9)
    # 802.11g: SIFS 10 us + 6 us signal extension on every PPDU -> same as 11a with DIFS 28.
    Ts_g = (t_data + 6) + 10 + 1 + (t_ack + 6) + 28 + 1
    Tc_g = (t_data + 6) + 28 + 1
    ref_g = ref_S(10, 16, 6, 9 * US, Ts_g * US, Tc_g * US, 1500 * 8)
    assert bianchi_saturation_throughput(10, "802.11g") == pytest.approx(ref_g, rel=1e-9)


def test_presets_standard_timing():
    b, a, g = PHY["802.11b"], PHY["802.11a"], PHY["802.11g"]
    assert (b.slot_s, b.sifs_s, b.difs_s, b.cw_min, b.cw_max, b.preamble_s) == \
        (20 * US, 10 * US, 50 * US, 31, 1023, 192 * US)
    assert (a.slot_s, a.sifs_s, a.difs_s, a.cw_min, a.cw_max, a.preamble_s) == \
        (9 * US, 16 * US, 34 * US, 15, 1023, 20 * US)
    assert g.sifs_s + g.signal_ext_s == pytest.approx(16 * US)
    for st in PHY.values():
        assert st.difs_s == pytest.approx(st.sifs_s + 2 * st.slot_s)
        assert 2 ** st.m * st.W == st.cw_max + 1
    assert set(PHY) == {"802.11b", "802.11a", "802.11g", "802.11n", "802.11ac"}
    with pytest.raises(ValueError):
        PhyStandard("bad", 9 * US, 16 * US, 34 * US, cw_min=15, cw_max=1000, preamble_s=20 * US,
                    mac_header_bytes=28)


@pytest.mark.parametrize("std", ["802.11b", "802.11g", "802.11ac", BIANCHI_2000_FHSS])
def test_basic_access_throughput_decreases_beyond_a_few_stations(std):
    kw = {"payload_bytes": 1023} if std is BIANCHI_2000_FHSS else {}
    s = [bianchi_saturation_throughput(n, std, **kw) for n in range(1, 51)]
    assert all(s[i + 1] < s[i] for i in range(4, 49))
    # RTS/CTS shrinks the collision cost, so it loses less from 5 to 50 stations
    r5, r50 = (bianchi_saturation_throughput(n, std, access="rts", **kw) for n in (5, 50))
    assert r50 / r5 > s[49] / s[4]


# --- performance anomaly -------------------------------------------------------------------------
def heusse_T(rate, n):
    """Heusse et al.: T = t_ov + t_tr + t_cont(N) for 802.11b, 1500 B payload, microseconds."""
    t_ov = 50 + 192 + 10 + 192 + 112            # DIFS + PLCP + SIFS + PLCP + ACK(1 Mbit/s)
    t_tr = 8 * (1500 + 28) / (rate / 1e6)
    return t_ov + t_tr + 20 * 31 / (2 * n)


def test_anomaly_one_slow_one_fast_80211b():
    Tf, Ts = heusse_T(11e6, 2), heusse_T(1e6, 2)
    pc = 1 - (1 - 1 / 32) ** 1
    x = 1500 * 8 / ((Tf + Ts + 2 * pc * Ts) * US)          # t_jam = T_s when N = 2
    got = performance_anomaly([1e6, 11e6])
    assert got[0] == got[1]
    assert got[0] == pytest.approx(x, rel=1e-9)
    assert 0.7e6 < got[0] < 0.8e6                          # Heusse et al. report ~0.7-0.8 Mbit/s


def test_anomaly_one_slow_among_n_uses_heusse_t_jam():
    for n in [3, 5, 10]:
        Tf, Ts = heusse_T(11e6, n), heusse_T(1e6, n)
        pc = 1 - (1 - 1 / 32) ** (n - 1)
        t_jam = 2 / n * Ts + (1 - 2 / n) * Tf
        x = 1500 * 8 / (((n - 1) * Tf + Ts + pc * t_jam * n) * US)
        got = performance_anomaly([11e6] * (n - 1) + [1e6])
        assert got == [pytest.approx(x, rel=1e-9)] * n
    alone = performance_anomaly([11e6])[0]
    assert alone == pytest.approx(1500 * 8 / (heusse_T(11e6, 1) * US), rel=1e-9)
    assert performance_anomaly([]) == []


def ref_dcf_share(rates, st, payload_bytes=1500, delta=1e-6):
    """Brute force over every subset of transmitters, all stations with Bianchi's tau."""
    n = len(rates)
    tau, _ = ref_tau_p(n, st.W, st.m)
    Ts, Tc = [], []
    for r in rates:
        data = st.preamble_s + 8 * (st.mac_header_bytes + payload_bytes) / r        # DSSS only
        ack = st.preamble_s + 8 * st.ack_bytes / min(r, st.basic_rate_bps)
        Ts.append(data + st.sifs_s + delta + ack + st.difs_s + delta)
        Tc.append(data + st.difs_s + delta)
    slot = 0.0
    for tx in itertools.product([0, 1], repeat=n):
        k = sum(tx)
        prob = tau ** k * (1 - tau) ** (n - k)
        if k == 0:
            slot += prob * st.slot_s
        elif k == 1:
            slot += prob * Ts[tx.index(1)]
        else:
            slot += prob * max(c for c, t in zip(Tc, tx) if t)
    return tau * (1 - tau) ** (n - 1) * 8 * payload_bytes / slot


@pytest.mark.parametrize("rates", [[1e6, 11e6], [11e6, 11e6], [1e6, 2e6, 5.5e6, 11e6],
                                   [11e6] * 5 + [1e6], [2e6, 5.5e6, 5.5e6, 11e6, 1e6, 11e6, 2e6]])
def test_cell_shares_dcf_matches_brute_force(rates):
    st = PHY["802.11b"]
    got = cell_shares(rates, "dcf", "802.11b")
    ref = ref_dcf_share(rates, st)
    assert got == [pytest.approx(ref, rel=1e-9)] * len(rates)
    # the slow station drags everybody down: nobody gets more than the slowest gets alone
    assert got[0] <= cell_shares([min(rates)], "dcf")[0]


def test_cell_shares_fair_share_and_dcf_behave_as_documented():
    rates = [1e6, 11e6, 11e6]
    assert cell_shares(rates, "fair-share") == [1e6 / 3, 11e6 / 3, 11e6 / 3]
    dcf = cell_shares(rates, "dcf")
    assert len(set(dcf)) == 1                                   # throughput-fair
    assert sum(dcf) < sum(cell_shares([11e6, 11e6, 11e6], "dcf"))
    # equal rates: the aggregate is Bianchi's, computed here by hand
    Ts = 192 + (28 + 1500) * 8 / 11 + 10 + 1 + 192 + 112 + 50 + 1
    Tc = 192 + (28 + 1500) * 8 / 11 + 50 + 1
    for n in [1, 4, 12]:
        agg = ref_S(n, 32, 5, 20 * US, Ts * US, Tc * US, 1500 * 8)
        assert cell_shares([11e6] * n, "dcf") == [pytest.approx(agg / n, rel=1e-9)] * n
    assert cell_shares([1e6, 11e6], "anomaly") == performance_anomaly([1e6, 11e6])
    assert cell_shares([], "dcf") == []
    assert cell_shares([11e6, 1e6], "dcf") == cell_shares([1e6, 11e6], "dcf")
    with pytest.raises(ValueError):
        cell_shares(rates, "round-robin")
    with pytest.raises(ValueError):
        cell_shares([0.0, 1e6], "dcf")
    with pytest.raises(ValueError):
        cell_shares([1e6], "dcf", std="802.11z")


def test_cell_shares_is_cached():
    bianchi_tau_p.cache_clear()
    cell_shares([11e6] * 7 + [2e6], "dcf", "802.11g")
    before = bianchi_tau_p.cache_info()
    for _ in range(100):
        cell_shares([54e6] * 7 + [6e6], "dcf", "802.11g")
    after = bianchi_tau_p.cache_info()
    assert after.misses == before.misses                     # same (n, W, m): no new fixed point
