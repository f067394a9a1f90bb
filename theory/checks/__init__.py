"""Simulation checks of every statement of ``theory`` (run by ``theory.simulate.verify_all``).

``report`` (what a check returns), ``theorem1``, ``theorem2``, ``response`` (residual networks:
Proposition 1 at both orders, Theorem 2R, Theorem 1 to second order), ``forms_*`` (each numeric
function against the sympy object it computes), ``mutants`` (wrong statements and
implementations the checks must catch), ``indexed`` (symbolic-K objects at a concrete K).
"""
