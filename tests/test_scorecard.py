import json

import pytest

from astrorepro.scorecard import Scorecard, ScorecardError, collect, overview


def _card():
    sc = Scorecard("demo")
    sc.claim("a", ref="Fig. 1", claim="error is small", value=1e-9, op="<=", target=1e-6, must_hold=True, fmt=".1e")
    sc.claim("b", ref="Tab. 2", claim="accuracy high", value=0.5, op=">=", target=0.9, paper="0.96")
    sc.claim("c", ref="Sec. 3", claim="in range", value=0.14, op="between", target=(0.08, 0.2),
             status="reproduced in trend")
    return sc


def test_status_is_computed_from_value_and_criterion():
    sc = _card()
    a, b, c = sc.claims
    assert a.passed and a.status == "reproduced"
    assert not b.passed and b.status == "not reproduced"
    assert c.passed and c.status == "reproduced in trend"
    assert c.criterion == "in [0.08, 0.2]"
    assert sc.failures == []  # b fails but need not hold
    sc.check()


def test_must_hold_failure_raises_and_names_the_claim():
    sc = Scorecard("demo")
    sc.claim("ey", ref="Thm", claim="EY", value=0.1, op="<", target=1e-8, must_hold=True)
    with pytest.raises(ScorecardError, match="ey: EY"):
        sc.check()
    sc.check(raise_on_failure=False)  # full mode reports without raising


def test_nan_never_passes():
    sc = Scorecard("demo")
    assert not sc.claim("n", ref="-", claim="-", value=float("nan"), op="<", target=1.0).passed


@pytest.mark.parametrize("kw, msg", [
    (dict(op="~", target=1), "unknown operator"),
    (dict(op="between", target=1), "between"),
    (dict(op="<", target=1, status="great"), "unknown status"),
])
def test_bad_claims_are_refused(kw, msg):
    with pytest.raises(ValueError, match=msg):
        Scorecard("demo").claim("x", ref="-", claim="-", value=0.5, **kw)


def test_duplicate_ids_are_refused():
    sc = _card()
    with pytest.raises(ValueError, match="used twice"):
        sc.claim("a", ref="-", claim="-", value=1, op="<", target=2)


def test_json_round_trip_and_overview(tmp_path):
    sc = _card()
    sc.provenance = {"mode": "quick", "device": "cpu", "seed": 3, "astrorepro_version": "0", "git_commit": "abc",
                     "wall_time_s": 1.0}
    path = sc.save(tmp_path / "demo.scorecard.json")
    data = json.loads(path.read_text())
    assert data["claims"][0]["criterion"] == "<= 1.0e-06"
    back = Scorecard.load(path)
    assert back.table().equals(sc.table())
    cards = collect(tmp_path, ["demo", "absent"])
    assert cards["absent"] is None
    ov = overview(cards)
    assert ov.loc["demo", "reproduced"] == 1 and ov.loc["demo", "not reproduced"] == 1
    assert ov.loc["demo", "seed"] == 3


def test_summary_counts_statuses():
    assert _card().summary() == "demo: 3 claims: 1 reproduced, 1 reproduced in trend, 1 not reproduced"


def test_digest_leaves_out_volatile_values():
    sc = _card()
    sc.claim("t", ref="-", claim="fastest", value=1, op="==", target=1, fmt="d", volatile=True)
    d = sc.digest()
    assert "a: 1.0e-09 -> reproduced" in d and "b: 0.5 -> not reproduced" in d
    assert "t: (load-dependent, not compared)" in d
    with pytest.raises(ValueError, match="volatile"):
        sc.claim("t2", ref="-", claim="-", value=1, op="==", target=1, volatile=True, must_hold=True)
