from enum import Enum


class OperatorAgentAddedEventEvent(str, Enum):
    AGENT_ADDED = "agent_added"

    def __str__(self) -> str:
        return str(self.value)
