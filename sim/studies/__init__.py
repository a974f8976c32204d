"""The studies inside the model: structural mechanisms with known true parameters.

Each module subclasses ``StudyModule``; the model runs every registered module once a
year after the market, power and investment have cleared, and exports its panel and
its truth beside the core panels.
"""

from sim.studies.base import STUDIES, StudyModule, register_study
from sim.studies import cities  # noqa: F401,E402
from sim.studies import firms  # noqa: F401,E402
from sim.studies import provinces  # noqa: F401,E402

__all__ = ["STUDIES", "StudyModule", "register_study"]
