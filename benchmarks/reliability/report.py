"""A scenario's result: its figures, and each property with whether it held."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Check:
    name: str
    held: bool
    detail: str


@dataclass
class ScenarioReport:
    scenario: str
    figures: dict[str, object] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    diagnostics: str = ""
    """The stack's output and log tails, kept only when a property failed."""

    def check(self, name: str, held: bool, detail: object = "") -> None:
        self.checks.append(Check(name, bool(held), str(detail)))

    @property
    def held(self) -> bool:
        return bool(self.checks) and all(c.held for c in self.checks)

    def as_dict(self) -> dict[str, object]:
        return {
            "scenario": self.scenario,
            "held": self.held,
            "figures": self.figures,
            "checks": [{"name": c.name, "held": c.held, "detail": c.detail} for c in self.checks],
        }

    def render(self) -> str:
        lines = [f"== {self.scenario}: {'held' if self.held else 'FAILED'}"]
        for key, value in self.figures.items():
            lines.append(f"   {key}: {value}")
        for c in self.checks:
            lines.append(
                f"   [{'ok' if c.held else 'FAIL'}] {c.name}"
                + (f" ({c.detail})" if c.detail else "")
            )
        if not self.held and self.diagnostics:
            lines.append(self.diagnostics)
        return "\n".join(lines)
