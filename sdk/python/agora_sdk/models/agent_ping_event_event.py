from enum import Enum


class AgentPingEventEvent(str, Enum):
    PING = "ping"

    def __str__(self) -> str:
        return str(self.value)
