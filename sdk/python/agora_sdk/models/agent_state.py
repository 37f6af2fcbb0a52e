from enum import Enum


class AgentState(str, Enum):
    ACTIVE = "active"
    UNREACHABLE = "unreachable"

    def __str__(self) -> str:
        return str(self.value)
