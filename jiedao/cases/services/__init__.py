"""Every write of the case engine. Import from the submodules; re-exported here for callers."""

from .intake import case_report  # noqa: F401
from .transitions import case_transition  # noqa: F401
