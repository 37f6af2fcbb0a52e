from enum import Enum


class OperatorAgentUnreachableEventEvent(str, Enum):
    AGENT_UNREACHABLE = "agent_unreachable"

    def __str__(self) -> str:
        return str(self.value)
