"""``tracemint view RUN``: a local web page to browse, search and label a run's traces.

See ``server.py`` for the JSON API, ``index.py`` / ``query.py`` for how it pages, filters
and searches, ``detail.py`` for one trace in full, and ``static/index.html`` for the page.
"""

from tracemint.view.index import TraceIndex
from tracemint.view.server import ViewerThread, make_app, serve

__all__ = ["TraceIndex", "ViewerThread", "make_app", "serve"]
