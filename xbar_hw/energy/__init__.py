"""The cost model: technology tables, event counts, energy, area, cycles and endurance."""

from .model import design_report, program_report, switch_energy_pj
from .technology import Technology, load_table, technology

__all__ = ["Technology", "design_report", "load_table", "program_report", "switch_energy_pj", "technology"]
