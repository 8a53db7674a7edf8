"""synthgen: labelled text datasets written by many LLMs at once."""

__version__ = "0.1.0"
