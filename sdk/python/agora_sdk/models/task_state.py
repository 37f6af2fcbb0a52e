from enum import Enum


class TaskState(str, Enum):
    DROPPED = "dropped"
    ERROR = "error"
    FAILED = "failed"
    FINISHED = "finished"
    GONE = "gone"
    KILLED = "killed"
    KILLING = "killing"
    LOST = "lost"
    RUNNING = "running"
    STAGING = "staging"
    STARTING = "starting"
    UNKNOWN = "unknown"
    UNREACHABLE = "unreachable"

    def __str__(self) -> str:
        return str(self.value)
