"""Reproduction scorecards: a paper's claims as data, each with our computed value and a status.

A chapter adds one :class:`Claim` per result it reproduces. The criterion is stored as data (an
operator and a target), so the status is computed here from the value, never typed in. The
scorecard renders as a table in the chapter, is written as JSON next to the executed notebook,
and raises :class:`ScorecardError` in quick mode when a claim marked ``must_hold`` fails.
"""

from __future__ import annotations

import json
import math
import operator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

STATUSES = ("reproduced", "reproduced in trend", "not reproduced", "needs real data")
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}
OPS = (*_OPS, "between")


class ScorecardError(AssertionError):
    """A claim that must hold did not."""


@dataclass(frozen=True)
class Claim:
    """One claim of a paper, checked by a chapter.

    Attributes:
        id: short unique identifier within the chapter.
        ref: where in the paper the claim is made (figure, table, section).
        claim: the statement, in words.
        paper: the paper's value as text, or ``"not stated"``.
        value: our computed value.
        op: comparison operator, one of ``< <= > >= == between``.
        target: the threshold (a ``(lo, hi)`` pair for ``between``).
        passed: whether ``value op target`` holds.
        status: the reported status (see :data:`STATUSES`).
        must_hold: whether a failure is an error (quick mode raises).
        fmt: format spec used to show ``value`` and ``target``.
        volatile: the value depends on the machine's load (a timing), so two runs with the same
            seed may differ; it is left out of :meth:`Scorecard.digest`.
    """

    id: str
    ref: str
    claim: str
    paper: str
    value: Any
    op: str
    target: Any
    passed: bool
    status: str
    must_hold: bool
    fmt: str = ".3g"
    volatile: bool = False

    def _show(self, x: Any) -> str:
        if isinstance(x, (tuple, list)):
            return "[" + ", ".join(self._show(v) for v in x) + "]"
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            return str(x)
        if isinstance(x, float) and not math.isfinite(x):
            return str(x)
        return format(x, self.fmt)

    @property
    def criterion(self) -> str:
        """The criterion in words, e.g. ``"<= 1e-06"`` or ``"in [0.08, 0.2]"``."""
        if self.op == "between":
            return f"in {self._show(self.target)}"
        return f"{self.op} {self._show(self.target)}"

    @property
    def shown_value(self) -> str:
        return self._show(self.value)


def _evaluate(value: Any, op: str, target: Any) -> bool:
    if op not in OPS:
        raise ValueError(f"unknown operator {op!r}; choose from: {', '.join(OPS)}")
    if op == "between":
        try:
            lo, hi = target
        except (TypeError, ValueError):
            raise ValueError(f"'between' needs target=(lo, hi), got {target!r}") from None
        return bool(lo <= value <= hi)
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool(_OPS[op](value, target))


@dataclass
class Scorecard:
    """The claims of one chapter and the provenance of the run that checked them."""

    chapter: str
    mode: str = "quick"
    claims: list[Claim] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)

    def claim(
        self,
        id: str,
        *,
        ref: str,
        claim: str,
        value: Any,
        op: str,
        target: Any,
        paper: str = "not stated",
        must_hold: bool = False,
        status: str = "reproduced",
        fmt: str = ".3g",
        volatile: bool = False,
    ) -> Claim:
        """Check ``value op target`` and record the claim; returns it.

        ``status`` is the status reported when the criterion passes; a failing claim is reported as
        ``"not reproduced"``, except a ``"needs real data"`` claim, which keeps its status. Mark
        timings and other load-dependent values ``volatile=True``: they must never be ``must_hold``.
        """
        if volatile and must_hold:
            raise ValueError(f"claim {id!r}: a volatile (load-dependent) value cannot be must_hold")
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; choose from: {', '.join(STATUSES)}")
        if any(c.id == id for c in self.claims):
            raise ValueError(f"claim id {id!r} used twice in chapter {self.chapter!r}")
        if hasattr(value, "item"):  # numpy / torch scalars
            value = value.item()
        passed = _evaluate(value, op, target)
        shown = status if passed or status == "needs real data" else "not reproduced"
        c = Claim(id, ref, claim, paper, value, op, target, passed, shown, must_hold, fmt, volatile)
        self.claims.append(c)
        return c

    @property
    def failures(self) -> list[Claim]:
        """Claims that must hold and do not."""
        return [c for c in self.claims if c.must_hold and not c.passed]

    def table(self) -> pd.DataFrame:
        """The scorecard as a table (one row per claim)."""
        rows = [
            {
                "claim": c.claim,
                "paper ref.": c.ref,
                "paper value": c.paper,
                "our value": c.shown_value,
                "criterion": c.criterion,
                "status": c.status + ("" if c.passed or not c.must_hold else " (MUST HOLD)"),
            }
            for c in self.claims
        ]
        return pd.DataFrame(rows, index=pd.Index([c.id for c in self.claims], name="id"))

    def summary(self) -> str:
        """A short plain-text summary, e.g. ``"6 claims: 5 reproduced, 1 not reproduced"``."""
        counts: dict[str, int] = {}
        for c in self.claims:
            counts[c.status] = counts.get(c.status, 0) + 1
        parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: STATUSES.index(kv[0])))
        return f"{self.chapter}: {len(self.claims)} claims: {parts}"

    def digest(self) -> str:
        """Every claim's id, value and status, one per line: what two runs with one seed must share.

        Volatile claims (timings) are listed without their value and status. The chapters print
        this in a cell marked ``NBVAL_CHECK_OUTPUT``, so nbval compares it between runs.
        """
        lines = [self.summary() if not any(c.volatile for c in self.claims) else f"{self.chapter}: {len(self.claims)} claims"]
        for c in self.claims:
            lines.append(f"{c.id}: (load-dependent, not compared)" if c.volatile else f"{c.id}: {c.shown_value} -> {c.status}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        claims = []
        for c in self.claims:
            d = asdict(c)
            d["criterion"] = c.criterion
            d["shown_value"] = c.shown_value
            claims.append(d)
        return {"chapter": self.chapter, "mode": self.mode, "provenance": self.provenance, "claims": claims}

    def save(self, path: str | Path) -> Path:
        """Write the scorecard as JSON; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Scorecard":
        """Read a scorecard written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no scorecard at {path}")
        d = json.loads(path.read_text())
        fields = set(Claim.__dataclass_fields__)
        claims = [Claim(**{k: v for k, v in c.items() if k in fields}) for c in d["claims"]]
        for c in claims:  # JSON turns tuples into lists
            if isinstance(c.target, list):
                object.__setattr__(c, "target", tuple(c.target))
        return cls(d["chapter"], d.get("mode", "quick"), claims, d.get("provenance", {}))

    def check(self, raise_on_failure: bool = True) -> None:
        """Raise :class:`ScorecardError` naming every must-hold claim that failed."""
        bad = self.failures
        if bad and raise_on_failure:
            lines = [f"  {c.id}: {c.claim}: value {c.shown_value}, needs {c.criterion}" for c in bad]
            raise ScorecardError(f"{len(bad)} claim(s) of chapter {self.chapter!r} that must hold failed:\n" + "\n".join(lines))


def collect(folder: str | Path, keys: list[str] | tuple[str, ...]) -> dict[str, "Scorecard | None"]:
    """The scorecards ``<folder>/<key>.scorecard.json`` of the given chapters (``None`` where absent)."""
    folder = Path(folder)
    return {k: (Scorecard.load(folder / f"{k}.scorecard.json") if (folder / f"{k}.scorecard.json").is_file() else None)
            for k in keys}


def overview(cards: dict[str, "Scorecard | None"]) -> pd.DataFrame:
    """One row per chapter: claim counts by status and the provenance of the run."""
    rows = []
    for key, sc in cards.items():
        if sc is None:
            rows.append({"chapter": key, "claims": 0, "note": "not executed"})
            continue
        p = sc.provenance
        row = {"chapter": key, "claims": len(sc.claims)}
        for s in STATUSES:
            row[s] = sum(c.status == s for c in sc.claims)
        row.update({"mode": p.get("mode"), "device": p.get("device"), "seed": p.get("seed"),
                    "version": p.get("astrorepro_version"), "commit": p.get("git_commit"),
                    "wall time (s)": p.get("wall_time_s")})
        rows.append(row)
    return pd.DataFrame(rows).set_index("chapter")
