"""Test doubles that ship with tracemint: the OpenAI-compatible test server and its models.

Kept apart from ``tracemint.teachers`` so the real teachers never depend on them: this
package may use ``teachers``, never the reverse, and nothing outside it imports it but the
CLI's ``serve-test`` command (and the ``teachers/testserver.py`` compatibility shim). Tests
and benchmarks talk to ``server`` over real sockets; ``fakemodel`` scripts its replies,
``simulated`` is a second teacher with hidden faithfulness labels (``--simulated N``).
"""
