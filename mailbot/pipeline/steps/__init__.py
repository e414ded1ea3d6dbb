"""The pipeline's steps, one module each; `mailbot.pipeline.flow` puts them in order.

Every step has the same shape, `run(session, ctx, item) -> Outcome`: it reads what earlier
steps found on `item`, writes through `session` (nothing is flushed until the message's
savepoint ends), and says whether the message goes on.
"""
