from enum import Enum


class AgentLaunchEventEvent(str, Enum):
    LAUNCH = "launch"

    def __str__(self) -> str:
        return str(self.value)
