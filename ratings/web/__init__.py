"""The thin Django layer of the statistics engine: snapshots, the leaderboard page, exports and the API.

The numeric core (the rest of :mod:`ratings`) never imports Django; only this subpackage does.
"""
