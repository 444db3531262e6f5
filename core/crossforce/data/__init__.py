"""Public tables the code ships: the 43 forces and the nickname table (docs/spec.md)."""
