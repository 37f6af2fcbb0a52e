from enum import Enum


class AgentShutdownEventEvent(str, Enum):
    SHUTDOWN = "shutdown"

    def __str__(self) -> str:
        return str(self.value)
