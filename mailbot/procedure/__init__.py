"""The complaints procedure as pure code: policy, working calendar, deadlines, lifecycle, planner.

Nothing here touches the database, the clock or the network: every function takes the moment
it reasons about (`received_at`, `now`) and returns values, so the worker, the CLI and the tests
all share one implementation.
"""
