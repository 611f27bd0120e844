"""The shipped model files (installed as the package ``marksales.models``)."""
