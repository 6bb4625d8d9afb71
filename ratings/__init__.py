"""The statistics engine: battles in, a Bradley–Terry leaderboard with honest uncertainty out.

Pure NumPy/SciPy, no Django. The usual entry points are :func:`ratings.data.load_battles` and
:func:`ratings.leaderboard.compute_leaderboard`; ``python -m ratings`` wraps both. The numeric
functions (:mod:`ratings.aggregate`, :mod:`ratings.bradley_terry`, :mod:`ratings.intervals`, ...)
work on integer model ids and numpy arrays and can be used on their own.
"""
