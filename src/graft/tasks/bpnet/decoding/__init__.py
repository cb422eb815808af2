"""The steps of the BodyPoseNet pose decoder (:mod:`graft.tasks.bpnet.decoder` is its API):
settings (``params``), the NumPy and PyTorch array backends (``backends``), peak finding
(``peaks``), limb scoring (``limbs``), matching and assembly into people (``assembly``)."""
