"""Export tests: models exported with Keras's ``model.export``, run by each format's runtime.

A package so that its modules do not shadow ``tests/conftest.py`` (see
``tests/distribution/__init__.py``).
"""
