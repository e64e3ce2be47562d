"""docflow: paperless administration across the levels of a public organisation."""

__version__ = "0.1.0"
