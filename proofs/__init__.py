"""Machine-checked derivations of every statement in THEORY.md."""
