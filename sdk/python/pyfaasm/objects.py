"""Faasm's ``pyfaasm.objects``: a placeholder there (an empty class), kept so that code
importing it runs unchanged."""


class Dictionary:
    """An empty object, as in Faasm."""
