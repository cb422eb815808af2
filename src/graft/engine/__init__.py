"""The training engine: a Lightning loop that every task shares. It knows no task by name."""
