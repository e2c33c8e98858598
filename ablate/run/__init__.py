"""The Ray side: the session (:mod:`.session`), the Tune driver (:mod:`.driver`), one trial
(:mod:`.trial`), and shipping a sweep to a cluster (:mod:`.cluster`). Ray is imported inside
functions, never at import time."""
