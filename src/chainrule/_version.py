"""The version of chainrule: the one place it is written (``chainrule.__version__``, the
package metadata through pyproject's ``attr``, and every model file's ``chainrule_version``
read it here). A module of its own, so that the wings can read it without importing the
package root, which imports every wing."""

__version__ = "0.1.0"
