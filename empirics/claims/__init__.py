"""Claim rules that can fail, their calibration on synthetic truth, and the recommendation rule."""
