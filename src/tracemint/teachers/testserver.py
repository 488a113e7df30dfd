"""Compatibility path: the test server moved to :mod:`tracemint.testing.server`.

Kept so users' scripts that run ``python -m tracemint.teachers.testserver`` or import
``spawn``/``stop``/``ServerOptions`` from here keep working; new code should use
``tracemint.testing.server``. Nothing in tracemint imports this module: the real teachers
in this package must not depend on ``tracemint.testing``.
"""

from tracemint.testing.server import *  # noqa: F403
from tracemint.testing.server import main

if __name__ == "__main__":
    raise SystemExit(main())
