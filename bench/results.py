"""Figures as they are measured: one value per round, with the round's load average and
details, and the median and spread over the rounds.

A *figure* belongs to a scenario (``create``, ``get``, ...) and is either the server's or a
baseline's. Ratios are taken round by round (each round measures a figure right beside its
baseline, so a round's ratio survives a change in the machine's load between rounds) and
their median is reported.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from bench import procfs


@dataclass
class Figure:
    label: str
    unit: str
    baseline: bool = False
    rounds: list[dict[str, Any]] = field(default_factory=list)

    def add(self, round_number: int, value: float, **details: Any) -> None:
        self.rounds.append({"round": round_number, "value": round(float(value), 4), "load": procfs.load_average(),
                            **details})

    def values(self) -> list[float]:
        return [entry["value"] for entry in self.rounds]

    @property
    def median(self) -> float | None:
        return statistics.median(self.values()) if self.rounds else None

    def to_json(self) -> dict[str, Any]:
        values = self.values()
        out: dict[str, Any] = {"label": self.label, "unit": self.unit, "baseline": self.baseline,
                               "median": self.median, "min": min(values, default=None),
                               "max": max(values, default=None), "rounds": self.rounds}
        if len(values) >= 4:
            quartiles = statistics.quantiles(values, n=4)
            out["iqr"] = [quartiles[0], quartiles[2]]
        return out


@dataclass
class DriverResults:
    """Every figure of one database's run, by scenario."""

    driver: str
    scenarios: dict[str, dict[str, Figure]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def figure(self, scenario: str, key: str, label: str, unit: str, baseline: bool = False) -> Figure:
        figures = self.scenarios.setdefault(scenario, {})
        if key not in figures:
            figures[key] = Figure(label, unit, baseline)
        return figures[key]

    def get(self, scenario: str, key: str) -> Figure | None:
        return self.scenarios.get(scenario, {}).get(key)

    def ratio(self, scenario: str, key: str, base_scenario: str, base_key: str) -> float | None:
        """Median over rounds of figure / baseline (rounds where both were measured)."""
        figure, base = self.get(scenario, key), self.get(base_scenario, base_key)
        if figure is None or base is None:
            return None
        by_round = {entry["round"]: entry["value"] for entry in base.rounds}
        ratios = [entry["value"] / by_round[entry["round"]] for entry in figure.rounds
                  if by_round.get(entry["round"])]
        return statistics.median(ratios) if ratios else None
