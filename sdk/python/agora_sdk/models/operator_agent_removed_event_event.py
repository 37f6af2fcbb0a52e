from enum import Enum


class OperatorAgentRemovedEventEvent(str, Enum):
    AGENT_REMOVED = "agent_removed"

    def __str__(self) -> str:
        return str(self.value)
