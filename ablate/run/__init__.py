"""The Ray side: the session (:mod:`.session`), the Tune driver (:mod:`.driver`) and its
progress lines (:mod:`.progress`), one trial (:mod:`.trial`), and a sweep on a cluster
(:mod:`.cluster`). Ray is imported inside functions, never at import time."""
