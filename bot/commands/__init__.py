"""Chat commands without a transport: plain arguments and an actor in, a Reply out.

Every rule (who may do what, limits, states) lives here or below, so the Discord and
terminal front ends only translate.
"""
