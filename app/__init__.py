"""PySide6 desktop GUI of zs3-annotator.

The window composes small panels (files, canvas, classes, status) around an
:class:`~app.controller.Controller` that owns the engine :class:`core.session.Session`.
Every model call runs on a single worker thread (``app.workers``) so the window never freezes
and the session is never used from two threads at once.
"""
