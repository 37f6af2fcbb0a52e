from enum import Enum


class AgentAcknowledgeEventEvent(str, Enum):
    ACKNOWLEDGE = "acknowledge"

    def __str__(self) -> str:
        return str(self.value)
