"""The search space and how a sweep walks it: dimensions and distributions (:mod:`.space`,
:mod:`.distributions`), resolving a point into a trial's config and cell id
(:mod:`.resolve`), and two extension points, :mod:`.strategies` and :mod:`.schedulers`.

Pure: no torch and no Ray at import time.
"""
