"""mxcensus: exposed mail servers, their exact builds, and honest verdicts."""

__version__ = "0.1.0"
