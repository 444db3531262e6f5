"""The 43 territorial police forces of England and Wales (codes, names, population served).

Copied from public figures into ``core/crossforce/data/forces.csv``; used to name and size simulated forces.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

CITY_OF_LONDON_FLOOR_THOUSANDS = 300
"""City of London has few residents but a large daytime population; size it as a mid-sized force."""


@dataclass(frozen=True)
class Force:
    code: str
    name: str
    population_thousands: int

    @property
    def sizing_weight(self) -> int:
        """Population used for sizing simulations (with the City of London floor)."""
        if self.code == "city-of-london":
            return max(self.population_thousands, CITY_OF_LONDON_FLOOR_THOUSANDS)
        return self.population_thousands


@cache
def all_forces() -> tuple[Force, ...]:
    text = resources.files("crossforce.data").joinpath("forces.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(text.splitlines())
    return tuple(Force(r["code"], r["name"], int(r["population_thousands"])) for r in rows)


def sizes_for_total(total_records: int) -> dict[str, int]:
    """Split ``total_records`` across the 43 forces in proportion to their sizing weight."""
    forces = all_forces()
    weight = sum(f.sizing_weight for f in forces)
    sizes = {f.code: max(1, total_records * f.sizing_weight // weight) for f in forces}
    return sizes
