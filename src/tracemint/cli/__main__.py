"""``python -m tracemint.cli``: the same commands as the ``tracemint`` script."""

from tracemint.cli import app

app()
