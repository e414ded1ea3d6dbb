"""What happens to one stored inbound message: the steps in `mailbot.pipeline.flow.STEPS`,
run by `mailbot.pipeline.runner` (one savepoint per message)."""

from mailbot.pipeline.context import Item, PipelineContext
from mailbot.pipeline.runner import process_message, process_pending

__all__ = ["Item", "PipelineContext", "process_message", "process_pending"]
