from enum import Enum


class AgentReadLogEventEvent(str, Enum):
    READ_LOG = "read_log"

    def __str__(self) -> str:
        return str(self.value)
