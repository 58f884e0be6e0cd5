"""gametap: host an unmodified game as a live research environment."""

__version__ = "0.1.0"
