"""The sync queue's delivery (`push`: Mailbot → remote) and the way back (`pull`: remote →
Mailbot), run by the worker after the mail pipeline, never inside it."""
