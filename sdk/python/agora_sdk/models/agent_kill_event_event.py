from enum import Enum


class AgentKillEventEvent(str, Enum):
    KILL = "kill"

    def __str__(self) -> str:
        return str(self.value)
