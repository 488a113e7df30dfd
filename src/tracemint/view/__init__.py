"""``tracemint view RUN``: a local, read-only web page to browse a run's problems and traces.

See ``server.py`` for the JSON API and ``static/index.html`` for the page.
"""

from tracemint.view.server import TraceIndex, ViewerThread, make_app, serve

__all__ = ["TraceIndex", "ViewerThread", "make_app", "serve"]
