"""Output names of classification exports (a leaf module: deployment writers read them
without loading the task or torch)."""

LOGITS = "logits"  # the network's output, and a plain export's
PROBABILITIES = "probabilities"  # an export that ends in a softmax (--sdk_compatible_model)
