"""Commands that act on a finished run and add to it: ``tracemint probe`` (``probe.py``:
probe columns on the run's shards) and ``tracemint variants`` (``variants.py``:
counterfactual variants of its problems). They sit above the runner: they rebuild the
run's teacher from its manifest and reuse its call cache."""
