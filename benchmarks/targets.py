"""Issue #12's speed targets, checked against what a benchmark just measured and printed beside it, so that a run says
which targets this machine reached in that run and by how much (the host's speed moves by up to 2x between hours:
a target is met in a run, not for ever).

    check = Targets("issue #12 targets, this run")
    check.at_least("indices MP/s at 26 MP", 35.0, 30.0, "MP/s")
    check.print()
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Issue #12 ("Speed: photos at the JPEG decoder's floor, whole fields at survey scale"), What to deliver.
PHOTO_12MP_X_FLOOR = 1.5  # the served pipeline's p50 on a 12 MP JPEG, at most this times the 1/8-scale decode's p50
PAGE_P50_MS = 12.0  # a page-sized photo (about 1,600 px) through the served pipeline, p50
API_PER_S = {"12 MP": 40.0, "page": 80.0}  # at 16 concurrent uploads, with no error
API_P99_OVER_P50 = 5.0
INDICES_MP_S = 30.0  # the windowed pipeline end to end, every output a COG
INDICES_X_GDAL_CALC = 3.5  # against gdal_calc.py's single index, same run
PEAK_MB_AT_400_MP = 1024.0
DAMAGE_MP_S = 10.0  # with the damage model, MP of input per second


@dataclass
class Target:
    name: str
    measured: float
    bound: float
    unit: str
    higher_is_better: bool

    @property
    def met(self) -> bool:
        return self.measured >= self.bound if self.higher_is_better else self.measured <= self.bound

    def line(self) -> str:
        sign = ">=" if self.higher_is_better else "<="
        return (f"  {'met' if self.met else 'NOT met':<8} {self.name:<52} {self.measured:>9.2f} {self.unit:<8} "
                f"(target {sign} {self.bound:g})")


@dataclass
class Targets:
    title: str
    rows: list[Target] = field(default_factory=list)

    def at_least(self, name: str, measured: float, bound: float, unit: str = "") -> None:
        self.rows.append(Target(name, measured, bound, unit, True))

    def at_most(self, name: str, measured: float, bound: float, unit: str = "") -> None:
        self.rows.append(Target(name, measured, bound, unit, False))

    def print(self) -> None:
        if not self.rows:
            return
        met = sum(t.met for t in self.rows)
        print(f"\n{self.title}: {met} of {len(self.rows)} met")
        for t in self.rows:
            print(t.line())
