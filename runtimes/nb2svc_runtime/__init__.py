"""nb2svc model server: runs inside images; never imports the builder."""

__version__ = "0.1.0"
