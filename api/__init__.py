"""cropwatch API: who may ask, how requests and records flow, where results are stored."""

__version__ = "0.1.0"
