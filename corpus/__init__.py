"""The labelled corpus and dev set (installed as the package ``marksales.corpus``)."""
