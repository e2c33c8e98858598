"""The use cases: what ``ablate``'s commands do, as functions of typed options.

The CLI (:mod:`ablate.cli`) only parses arguments into :mod:`.options` and calls these; the
cluster runs the same ones on its head node (:mod:`.cluster`). Each returns an exit code.
Import the submodules: this package imports nothing heavy by itself.
"""
