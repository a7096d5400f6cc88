"""The decomposed solver against the monolithic LP (docs/model.md §5.8).

Same optimum to 1e-6 (in practice 1e-9) on random multi-site scenarios and on the example at
low, middle and high BTC prices; the duals it assembles are an optimal dual solution of the
monolithic LP (strong duality, signs); a warm start changes nothing but the work; the method
that ran is recorded.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from models import ScenarioError, build_scenario
from models.documents import set_field
from models.example import example_doc
from optimizer.errors import InfeasibleError
from optimizer.lp.data import lp_data
from optimizer.lp.decomposed import solve_decomposed, unsupported
from optimizer.lp.formulation import build_lp
from optimizer.plan import plan_scenario
from optimizer.score import score_scenario


def dual_gap(lp, sol) -> tuple[float, float]:
    """Relative gap between the primal objective and the dual objective of ``sol``'s duals,
    and the worst sign violation of a dual or reduced cost [USD per unit]."""
    y = sol.row_dual
    rc = lp.cost - lp.matrix.T @ y
    lo_r, up_r, lo_c, up_c = lp.row_lower, lp.row_upper, lp.col_lower, lp.col_upper
    # a row dual > 0 needs a finite lower bound; < 0 a finite upper bound (minimization)
    sign = max(
        np.max(np.where(np.isfinite(lo_r), 0.0, np.maximum(y, 0.0)), initial=0.0),
        np.max(np.where(np.isfinite(up_r), 0.0, np.maximum(-y, 0.0)), initial=0.0),
        np.max(np.where(np.isfinite(lo_c), 0.0, np.maximum(rc, 0.0)), initial=0.0),
        np.max(np.where(np.isfinite(up_c), 0.0, np.maximum(-rc, 0.0)), initial=0.0),
    )
    dual = (
        np.where(
            y > 0, np.where(np.isfinite(lo_r), lo_r, 0.0), np.where(np.isfinite(up_r), up_r, 0.0)
        )
        @ y
        + np.where(
            rc > 0, np.where(np.isfinite(lo_c), lo_c, 0.0), np.where(np.isfinite(up_c), up_c, 0.0)
        )
        @ rc
        + lp.offset
    )
    return abs(dual - sol.objective) / max(1.0, abs(sol.objective)), float(sign)


def solve_both(scenario):
    scores = score_scenario(scenario)
    dec = plan_scenario(scenario, scores=scores, method="decomposed")
    mono = plan_scenario(scenario, scores=scores, method="monolithic")
    return dec, mono


@pytest.mark.parametrize(
    "btc, points",
    [(50_000, False), (90_000, False), (150_000, False), (50_000, True), (150_000, True)],
)
def test_example_two_weeks_agrees_with_the_monolithic_lp(tiny, btc, points):
    doc = set_field(example_doc(revenue_stack=False), "scenario.hours", 336)
    if points:  # the S21 XPs' presets: the class runs on its concave envelope (§5.4.15)
        doc["fleet"][0]["operating_points"] = example_doc()["fleet"][0]["operating_points"]
    doc = set_field(doc, "market.btc_price_usd", btc)
    dec, mono = solve_both(build_scenario(doc, source="<example>"))
    for p in (dec, mono):
        tiny.assert_accounting(p)
    assert dec.summary.method == "decomposed" and mono.summary.method == "monolithic"
    assert dec.summary.gap <= 1e-9
    assert dec.objective_usd == pytest.approx(mono.objective_usd, rel=1e-8)
    # the horizon-wide decisions are the same, and so are the streams they drive
    assert dec.summary.hpc_mw_converted == pytest.approx(mono.summary.hpc_mw_converted, rel=1e-6)
    assert dec.summary.firm_it_mw == pytest.approx(mono.summary.firm_it_mw, rel=1e-6)
    assert dec.summary.revenue_hpc_usd == pytest.approx(mono.summary.revenue_hpc_usd, rel=1e-6)
    # the assembled duals are an optimal dual solution of the monolithic LP
    gap, sign = dual_gap(dec.lp, dec.solution)
    assert gap < 1e-7 and sign < 1e-6
    # where a limit binds only by coincidence (everything runs and the import cap is exactly
    # full) the LP is dual degenerate: the greedy reports the value of capacity nothing would
    # use as zero, HiGHS may not; where something would use it, the values match
    a, b = dec.site_hours, mono.site_hours
    wanted = (a["curtailed_mw"] > 1e-6) & (b["curtailed_mw"] > 1e-6)
    np.testing.assert_allclose(
        a.loc[wanted, "import_value_usd_per_mwh"],
        b.loc[wanted, "import_value_usd_per_mwh"],
        atol=1e-5,
    )
    assert (a["import_value_usd_per_mwh"] <= b["import_value_usd_per_mwh"] + 1e-6).all()


def test_ancillary_offers_fall_back_and_say_why():
    """Ancillary offers are not covered: auto solves the LP whole and says why."""
    doc = set_field(example_doc(), "scenario.hours", 48)
    s = build_scenario(doc, source="<example>")
    p = plan_scenario(s)
    assert p.summary.method == "monolithic"
    assert "ancillary" in p.summary.method_note and "operating points" not in p.summary.method_note
    with pytest.raises(ScenarioError, match="does not cover"):
        plan_scenario(s, method="decomposed")


def test_warm_start_changes_only_the_work():
    doc = set_field(example_doc(revenue_stack=False), "scenario.hours", 336)
    s = build_scenario(doc, source="<example>")
    d = lp_data(s, score_scenario(s))
    lp = build_lp(d)
    cold, info = solve_decomposed(d, lp)
    warm, winfo = solve_decomposed(d, lp, start=info.z)
    assert warm.objective == pytest.approx(cold.objective, rel=1e-9)
    assert winfo.iterations <= info.iterations


HOSTED = {
    "model": "X100-2",
    "hashrate_ths": 100.0,
    "power_kw": 2.0,
    "cooling": "air",
    "rate_usd_per_mwh": 70.0,
}


@st.composite
def multi_site(draw, tiny):
    """One to three sites with ASIC classes (some with operating points), hosted and GPU
    classes, leases, PPAs, minimum take, curtailment orders and peak adders (no ramp limits:
    those fall back)."""
    hours = draw(st.integers(4, 30))
    n_sites = draw(st.integers(1, 3))
    prices = st.floats(-60.0, 400.0, allow_nan=False).map(lambda x: round(x, 2))
    sites, fleet, hosting, gpus, leases, ppas = [], [], [], [], [], []
    for i in range(n_sites):
        name = f"site{i}"
        sites.append(
            tiny.site(
                name=name,
                price_usd_per_mwh=np.array(draw(st.lists(prices, min_size=hours, max_size=hours))),
                interconnect_mw=draw(st.sampled_from([3.0, 5.0, 8.0])),
                mining_hall_mw=draw(st.sampled_from([4.0, 10.0])),
                existing_hpc_mw=draw(st.sampled_from([0.0, 1.0])),
                convertible_mw=draw(st.sampled_from([0.0, 2.0])),
                conversion_usd_per_mw=draw(st.sampled_from([0.0, 100.0 * 8760])),
                curtailment_mw=np.array(
                    draw(
                        st.lists(
                            st.sampled_from([0.0, 0.0, 1.0, 2.5]), min_size=hours, max_size=hours
                        )
                    )
                ),
                peak_flag=np.array(
                    draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=hours, max_size=hours))
                ),
                peak_adder_usd_per_mwh=draw(st.sampled_from([0.0, 40.0])),
                min_take_mwh_per_month=draw(st.sampled_from([0.0, 2000.0])),
                shortfall_usd_per_mwh=draw(st.sampled_from([5.0, 15.0])),
            )
        )
        for power in draw(
            st.lists(st.sampled_from([2.0, 3.0, 5.0]), min_size=1, max_size=3, unique=True)
        ):
            # operating points (100 TH/s nameplate): an underclock, an overclock and a point
            # below the envelope (never run on its own)
            points = draw(st.sampled_from([None, [[0.7, 80.0]], [[0.7, 80.0], [1.2, 110.0]]]))
            if points and draw(st.booleans()):
                points = [*points, [0.9, 75.0]]
            extra = {"operating_points": [[p * power, h] for p, h in points]} if points else {}
            fleet.append(
                tiny.miner(count=draw(st.integers(0, 1500)), power_kw=power, site=name, **extra)
            )
        if draw(st.booleans()):
            hosting.append(
                {
                    "name": f"client{i}",
                    "site": name,
                    "count": draw(st.integers(100, 900)),
                    **HOSTED,
                    "uptime": draw(st.sampled_from([0.0, 0.25, 0.5])),
                }
            )
        tenants = []
        for j in range(draw(st.integers(0, 2))):
            tenants.append(f"tenant{i}{j}")
            gpus.append(
                tiny.colocation_gpu(
                    name=tenants[-1],
                    site=name,
                    max_servers=draw(st.integers(0, 150)),
                    power_pass_through=draw(st.booleans()),
                    pass_through_price=draw(st.sampled_from(["spot", 45.0])),
                    pass_through_peak=draw(st.booleans()),
                    service=draw(st.sampled_from(["firm", "both"])),
                )
            )
        if draw(st.booleans()):
            gpus.append(
                tiny.cloud_gpu(
                    name=f"cloud{i}",
                    site=name,
                    max_servers=draw(st.integers(0, 100)),
                    rate=draw(st.sampled_from([0.1, 0.5, 1.25])),
                    capex_usd_per_server=draw(st.sampled_from([0.0, 8760.0])),
                )
            )
        # one lease per tenant class, or one lease over both
        groups = [[t] for t in tenants] if draw(st.booleans()) else ([tenants] if tenants else [])
        for j, members in enumerate(groups):
            leases.append(
                {
                    "name": f"lease{i}{j}",
                    "site": name,
                    "gpus": members,
                    "min_mw": draw(st.sampled_from([0.0, 0.3])),
                    "max_mw": draw(st.sampled_from([0.5, 2.0])),
                    "sla_penalty_usd_per_mwh": draw(st.sampled_from([50.0, 300.0])),
                    "allow_shortfall": draw(st.booleans()),
                }
            )
        if draw(st.booleans()):
            ppas.append(
                {
                    "site": name,
                    "block_mw": draw(st.sampled_from([1.0, 3.0])),
                    "price_usd_per_mwh": 35.0,
                    "resale": draw(st.booleans()),
                    "resale_fee": draw(st.sampled_from([0.0, 0.05])),
                    "negative_prices": draw(st.sampled_from(["settle", "spill"])),
                }
            )
    return tiny.doc(
        hours=hours,
        sites=sites,
        fleet=fleet,
        hosting=hosting or None,
        gpus=gpus or None,
        leases=leases or None,
        ppas=ppas or None,
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_decomposed_equals_monolithic_on_random_scenarios(tiny, data):
    document = data.draw(multi_site(tiny))
    try:
        s = tiny.scenario(document)
    except Exception as exc:  # a drawn combination the scenario rules refuse
        event(f"refused: {type(exc).__name__}")
        return
    scores = score_scenario(s)
    assert not unsupported(lp_data(s, scores))
    results = {}
    for method in ("decomposed", "monolithic"):
        try:
            results[method] = plan_scenario(s, scores=scores, method=method)
        except InfeasibleError as exc:
            results[method] = exc
    dec, mono = results["decomposed"], results["monolithic"]
    if isinstance(mono, InfeasibleError) or isinstance(dec, InfeasibleError):
        assert isinstance(dec, InfeasibleError) and isinstance(mono, InfeasibleError)
        event("infeasible")
        return
    event(f"{len(s.sites)} sites")
    tiny.assert_accounting(dec)
    assert dec.summary.method == "decomposed"
    assert dec.objective_usd == pytest.approx(mono.objective_usd, rel=1e-6, abs=1e-6)
    gap, sign = dual_gap(dec.lp, dec.solution)
    assert gap < 1e-6 and sign < 1e-5
    assert (dec.site_hours["import_value_usd_per_mwh"] >= -1e-7).all()
    assert (dec.lease_duals[["min_cost_usd_per_mw", "max_value_usd_per_mw"]] >= 0).all().all()


def test_kernel_cache_equals_a_fresh_kernel_run():
    """Market and power-price changes reuse one ASIC kernel run; the scores are the kernel's."""
    from optimizer.score import KernelCache

    base = set_field(example_doc(), "scenario.hours", 168)
    variants = [
        base,
        set_field(base, "market.btc_price_usd", 150_000),
        set_field(
            set_field(base, "market.fees_btc_per_block", 0.2), "market.network_hashrate_ehs", 1400
        ),
        set_field(base, "sites.odessa.price_usd_per_mwh", 45.0),
    ]
    cache = KernelCache()
    for doc in variants:
        s = build_scenario(doc, source="<example>")
        cached, fresh = cache.scores(s), score_scenario(s)
        for name in (
            "asic_revenue_usd",
            "asic_energy_mwh",
            "gpu_revenue_usd",
            "gpu_energy_mwh",
            "usd_per_th_hour",
        ):
            np.testing.assert_allclose(
                getattr(cached, name), getattr(fresh, name), rtol=1e-12, atol=1e-12
            )
    assert (cache.runs, cache.hits) == (1, 3)
    # a fleet change is a new kernel run
    cache.scores(build_scenario(set_field(base, "fleet.0.count", 100), source="<example>"))
    assert cache.runs == 2


def test_a_neighbours_basis_changes_only_the_work_of_the_monolithic_lp():
    """Monolithic HiGHS started from another BTC price's optimal basis: the same optimum."""
    doc = set_field(example_doc(revenue_stack=False), "scenario.hours", 168)
    first = plan_scenario(build_scenario(doc, source="<a>"), method="monolithic")
    assert first.solution.basis is not None
    s = build_scenario(set_field(doc, "market.btc_price_usd", 130_000), source="<b>")
    cold = plan_scenario(s, method="monolithic")
    warm = plan_scenario(s, method="monolithic", basis=first.solution.basis)
    assert warm.objective_usd == pytest.approx(cold.objective_usd, rel=1e-9)


@pytest.mark.parametrize("points", [False, True], ids=["nameplate", "operating-points"])
def test_decide_second_stage_by_decomposition_equals_the_fixed_lp(points):
    """decide's second stage: the decomposition's margin at fixed (y, n, f) equals HiGHS on the
    LP with those columns fixed, at the optimum and away from it, and its gradient is a
    supergradient of HiGHS's margins (Q(x + h e_j) <= Q(x) + g_j h)."""
    from optimizer.decide.second_stage import first_stage_ids, fix_first_stage, second_stage
    from optimizer.lp.backends import solve_lp

    doc = set_field(example_doc(revenue_stack=False), "scenario.hours", 336)
    if points:
        doc["fleet"][0]["operating_points"] = example_doc()["fleet"][0]["operating_points"]
    s = build_scenario(doc, source="<example>")
    d = lp_data(s, score_scenario(s))
    lp = build_lp(d)
    best = plan_scenario(s, method="monolithic")
    y0, f0, n0 = (
        best.converted_mw.to_numpy(),
        best.gpu["firm"].to_numpy(),
        best.gpu["installed"].to_numpy(),
    )
    for y, n, f in (
        (y0, n0, f0),
        (y0 + 2.0, n0, f0),  # more hall than firm load needs
        (y0 + 5.0, np.array([4000.0, 100.0]), f0 * 1.5),  # 15 MW of lease, half the cloud
    ):
        margin, grad = second_stage(d, y, n, f, lp=lp)
        x = np.concatenate([y, n, f])
        ref = solve_lp(fix_first_stage(lp, x))
        assert margin == pytest.approx(-ref.objective, rel=1e-8)
        assert grad.shape == first_stage_ids(lp).shape
        checked = 0
        for j, h in ((0, 1.0), (0, -1.0), (3, 50.0), (3, -50.0)):  # y, firm servers
            moved = x.copy()
            moved[j] += h
            moved_sol = solve_lp(fix_first_stage(lp, moved))
            if moved_sol.status == "optimal":  # (fewer firm servers may break a lease minimum)
                assert -moved_sol.objective <= margin + grad[j] * h + 1e-7 * abs(margin)
                checked += 1
        assert checked >= 3


def test_segments_are_the_concave_envelope_of_the_points(tiny):
    # 1,000 machines of 100 TH/s at 2 kW earn 1 USD per TH/s-hour at PUE 1 (conftest): the
    # nameplate is (2 MWh, 100 USD); points (1, 60), (1.8, 75), (2.4, 110). From (0, 0) the
    # envelope runs (1, 60) slope 60, (2, 100) slope 40, (2.4, 110) slope 25; (1.8, 75) lies
    # below the chord (1, 60)-(2, 100) (92 at 1.8) and never runs alone.
    from optimizer.lp.envelope import Segments

    doc = tiny.doc(
        hours=2,
        fleet=[tiny.miner(operating_points=[[1.0, 60.0], [1.8, 75.0], [2.4, 110.0]])],
    )
    s = tiny.scenario(doc)
    d = lp_data(s, score_scenario(s))
    seg = Segments.build(d, np.array([0]))
    assert seg.problem == ""
    # points are kept by increasing power: p0 = (1, 60), p1 = (1.8, 75), p2 = (2.4, 110)
    assert seg.vertex.tolist() == [0, -1, 2]
    np.testing.assert_allclose(seg.dE[:, 0], [1.0, 1.0, 0.4], rtol=1e-12)
    np.testing.assert_allclose(seg.dR[:, 0], [60.0, 40.0, 10.0], rtol=1e-12)
    # the first segment full, half the second: half the machines at p0, half at nameplate
    # (E 0.5 + 1 = 1.5 MWh, R 30 + 50 = 80 USD = 60 + 20 along the segments)
    x = np.array([[1.0, 1.0], [0.5, 1.0], [0.0, 0.2]])
    np.testing.assert_allclose(seg.shares(x), [[0.5, 0.0], [0.5, 0.5], [0.0, 0.5]], atol=1e-12)
    # a point that beats the envelope in one hour only: the decomposition does not cover it
    bent = d.point_revenue_usd.copy()
    bent[1, 1] = 99.0  # (1.8, 99) lies above the chord in hour 1 (92 there)
    from dataclasses import replace

    reasons = unsupported(replace(d, point_revenue_usd=bent))
    assert reasons and "above its envelope" in reasons[0]
    # a later segment filled before an earlier one (values tied to rounding): the 1.5 MWh are
    # refilled in order (first segment full, half the second): half at p0, half at nameplate
    np.testing.assert_allclose(
        seg.shares(np.array([[0.5, 0.0], [1.0, 0.0], [0.0, 0.0]]))[:, 0],
        [0.5, 0.5, 0.0],
        atol=1e-12,
    )


def test_a_point_proportional_to_the_nameplate_is_no_vertex(tiny):
    """An eco preset at ``k`` x hashrate and x power lies on the chord from (0, 0) to the
    nameplate: it must never become a vertex (to rounding the chain would bend, the greedy
    could fill it out of order and a share go negative), whatever ``k``; a plan with half the
    hall agrees with the monolithic LP and runs no machine at a negative share."""
    from optimizer.lp.envelope import Segments

    rng = np.random.default_rng(11)
    for k in rng.uniform(0.3, 0.99, 200).round(3):
        doc = tiny.doc(hours=2, fleet=[tiny.miner(operating_points=[[2.0 * k, 100.0 * k]])])
        s = tiny.scenario(doc)
        d = lp_data(s, score_scenario(s))
        assert Segments.build(d, np.array([0])).vertex.tolist() == [-1], k
    doc = tiny.doc(
        hours=6,
        sites=[tiny.site(mining_hall_mw=1.0)],
        fleet=[tiny.miner(operating_points=[[2.0 * 0.903, 100.0 * 0.903]])],
    )
    dec = tiny.plan(doc, backend="decomposed")
    mono = tiny.plan(doc, backend="highs")
    assert dec.objective_usd == pytest.approx(mono.objective_usd, rel=1e-9)
    assert (dec._x("u") >= -1e-12).all() and (dec._x("up") >= -1e-12).all()
