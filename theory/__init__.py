"""Symbolic and numeric theory of steering tradeoffs (Wolf et al., arXiv 2401.16332)."""
