"""The two-way live interpreter scenario."""

from translate.scenario import InterpreterScenario

__all__ = ["InterpreterScenario"]
