"""Code every alfagent service shares: errors, logging, settings and the gRPC server bootstrap."""

__version__ = "0.1.0"
