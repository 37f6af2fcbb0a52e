from enum import Enum


class ServiceStatus(str, Enum):
    DELAYED = "delayed"
    DELETING = "deleting"
    DEPLOYING = "deploying"
    RUNNING = "running"
    SUSPENDED = "suspended"
    WAITING = "waiting"

    def __str__(self) -> str:
        return str(self.value)
