"""Test doubles that ship with tracemint: the OpenAI-compatible test server and its models.

Kept apart from ``tracemint.teachers`` so the real teachers never depend on them: the
dependency points from here to ``teachers`` (and nothing outside this package imports it
but the CLI's ``serve-test`` command). Tests and benchmarks talk to ``server`` over real
sockets; ``fakemodel`` scripts its replies, ``simulated`` is a second teacher with hidden
faithfulness labels (``--simulated N``).
"""
