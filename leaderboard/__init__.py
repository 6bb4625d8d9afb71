"""The leaderboard: immutable snapshots computed from the arena's votes, the page, exports and the API.

A Django app that reads the arena's tables and hands the numbers to the pure engine in :mod:`ratings`.
The arena never imports it; a counted vote reaches it as a Celery task sent by name.
"""
