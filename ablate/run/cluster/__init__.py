"""A sweep on a Ray cluster: what ships (:mod:`.ship`), Ray Jobs (:mod:`.jobs`) and Ray
Client (:mod:`.client`). The use cases that drive them are in :mod:`ablate.app.cluster`."""
