"""``[[ancillary]]`` rows: products, price series (long-form files, the synthetic generator),
sources and their errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import ScenarioError, build_scenario, load_scenario
from models.ancillary import AS_PRICE_MEAN_USD_PER_MW_HOUR, PRODUCTS
from models.series import hourly_index
from models.synthetic import ercot_as_price_usd_per_mw_hour

START = "2026-03-02T00:00:00Z"


def doc(*offers: dict, hours: int = 3, start: str = START) -> dict:
    return {
        "scenario": {"name": "as", "start": start, "hours": hours},
        "market": {
            "btc_price_usd": 90000.0,
            "network_hashrate_ehs": 1100.0,
            "fees_btc_per_block": 0.0,
            "height": 925000,
        },
        "sites": [
            {"name": "odessa", "interconnect_mw": 10.0, "price_usd_per_mwh": 30.0, "temp_c": 10.0}
        ],
        "fleet": [{"site": "odessa", "model": "S21", "count": 10}],
        "ancillary": list(offers),
    }


def test_offer_fields_and_defaults():
    s = build_scenario(
        doc(
            {"site": "odessa", "product": "ECRS", "price_usd_per_mw_hour": 9.62},
            {
                "name": "reg",
                "site": "odessa",
                "product": "REGDN",
                "price_usd_per_mw_hour": [1.0, 2.0, 3.0],
                "max_mw": 4.0,
                "deployment_share": 0.2,
                "sources": ["gpus"],
            },
        )
    )
    ecrs, reg = s.ancillary
    assert ecrs.name == "odessa:ECRS" and not ecrs.down and ecrs.max_mw == np.inf
    assert (ecrs.asics, ecrs.gpus, ecrs.deployment_share) == (True, False, 0.0)
    np.testing.assert_array_equal(ecrs.price_usd_per_mw_hour, [9.62] * 3)
    assert reg.down and reg.max_mw == 4.0 and (reg.asics, reg.gpus) == (False, True)
    np.testing.assert_array_equal(reg.price_usd_per_mw_hour, [1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    ("offer", "message"),
    [
        ({"site": "odessa", "product": "ECR", "price_usd_per_mw_hour": 1.0}, "did you mean 'ECRS'"),
        ({"site": "odesa", "product": "RRS", "price_usd_per_mw_hour": 1.0}, "unknown site"),
        ({"site": "odessa", "product": "RRS"}, "missing required field 'price_usd_per_mw_hour'"),
        ({"site": "odessa", "product": "RRS", "price_usd_per_mw_hour": -1.0}, "expected >= 0"),
        (
            {"site": "odessa", "product": "RRS", "price_usd_per_mw_hour": 1.0, "sources": ["gpu"]},
            "unknown source 'gpu'",
        ),
        (
            {"site": "odessa", "product": "RRS", "price_usd_per_mw_hour": 1.0, "max_mw": 9000},
            r"expected a number <= 5000 \[MW\]",
        ),
        (
            {
                "site": "odessa",
                "product": "RRS",
                "price_usd_per_mw_hour": 1.0,
                "deployment_shar": 0.1,
            },
            "did you mean 'deployment_share'",
        ),
    ],
)
def test_offer_errors_name_the_field(offer, message):
    with pytest.raises(ScenarioError, match=message):
        build_scenario(doc(offer))


def test_duplicate_offer_names_are_refused():
    row = {"site": "odessa", "product": "RRS", "price_usd_per_mw_hour": 1.0}
    with pytest.raises(ScenarioError, match="duplicate offer name"):
        build_scenario(doc(row, row))


def test_long_form_price_file_is_read_per_product(tmp_path):
    """gridstatus-style: one row per hour and product (ERCOT's names), read by product."""
    times = hourly_index(START, 3).strftime("%Y-%m-%dT%H:%M:%SZ")
    names = {"ECRS": "ERCOT Contingency Reserve Service", "REGUP": "Regulation Up"}
    frame = pd.concat(
        [
            pd.DataFrame(
                {
                    "time": times,
                    "market": name,
                    "price": [1.0, 2.0, 3.0] if p == "ECRS" else [7.0, 8.0, 9.0],
                }
            )
            for p, name in names.items()
        ]
    )
    frame.to_csv(tmp_path / "as.csv", index=False)
    (tmp_path / "s.toml").write_text(
        '[scenario]\nname = "as"\nstart = "2026-03-02T00:00:00Z"\nhours = 3\n'
        "[market]\nbtc_price_usd = 90000\nnetwork_hashrate_ehs = 1100\nfees_btc_per_block = 0\n"
        "height = 925000\n"
        '[[sites]]\nname = "odessa"\ninterconnect_mw = 10\nprice_usd_per_mwh = 30\ntemp_c = 10\n'
        '[[fleet]]\nsite = "odessa"\nmodel = "S21"\ncount = 10\n'
        '[[ancillary]]\nsite = "odessa"\nproduct = "ECRS"\n'
        'price_usd_per_mw_hour = { file = "as.csv" }\n'
        '[[ancillary]]\nsite = "odessa"\nproduct = "REGUP"\n'
        'price_usd_per_mw_hour = { file = "as.csv", value_column = "price" }\n'
        '[[ancillary]]\nsite = "odessa"\nproduct = "NSRS"\n'
        'price_usd_per_mw_hour = { file = "as.csv" }\n'
    )
    with pytest.raises(
        ScenarioError, match=r"ancillary\[2\].*no rows of product NSRS in column 'market'"
    ):
        load_scenario(tmp_path / "s.toml")
    text = (tmp_path / "s.toml").read_text()
    (tmp_path / "s.toml").write_text(text[: text.rindex("[[ancillary]]")])
    ecrs, regup = load_scenario(tmp_path / "s.toml").ancillary
    np.testing.assert_array_equal(ecrs.price_usd_per_mw_hour, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(regup.price_usd_per_mw_hour, [7.0, 8.0, 9.0])


def test_synthetic_as_prices_default_to_each_products_2024_level():
    hours = 8760
    s = build_scenario(
        doc(
            *(
                {
                    "site": "odessa",
                    "product": p,
                    "price_usd_per_mw_hour": {"synthetic": "ercot_as_price"},
                }
                for p in PRODUCTS
            ),
            hours=hours,
            start="2026-01-01T00:00:00Z",
        )
    )
    for o in s.ancillary:
        # a full UTC year meets the product's mean exactly (ECRS: 9.62 USD/MW-h, 2024)
        assert o.price_usd_per_mw_hour.mean() == pytest.approx(
            AS_PRICE_MEAN_USD_PER_MW_HOUR[o.product], rel=1e-12
        )
        assert o.price_usd_per_mw_hour.min() >= 0.0
    # each product has its own random stream
    assert not np.allclose(
        s.ancillary[0].price_usd_per_mw_hour / 5.0, s.ancillary[2].price_usd_per_mw_hour / 6.0
    )


def test_as_price_generator_spikes_with_scarcity_and_refuses_unreachable_means():
    index = hourly_index("2026-01-01T00:00:00Z", 8760)
    p = ercot_as_price_usd_per_mw_hour(index, 7, mean_usd_per_mw_hour=9.62)
    assert p.mean() == pytest.approx(9.62, rel=1e-12)
    # evening (19-20 local, 00-01 UTC) above midday on average: the diurnal factor 1.8 vs 0.74
    hours = index.tz_convert("America/Chicago").hour
    assert p[hours == 19].mean() > 1.5 * p[hours == 11].mean()
    # the same 48 hours whatever span asks for them
    np.testing.assert_array_equal(
        ercot_as_price_usd_per_mw_hour(index[5000:5048], 7, 9.62), p[5000:5048]
    )
    with pytest.raises(ValueError, match="cannot be reached"):
        ercot_as_price_usd_per_mw_hour(index, 7, mean_usd_per_mw_hour=0.5, scarcity_share=1.0)
    assert (
        ercot_as_price_usd_per_mw_hour(index[:3], 7, mean_usd_per_mw_hour=0.0).tolist() == [0.0] * 3
    )
