from enum import Enum


class OperatorDeploymentStartedEventEvent(str, Enum):
    DEPLOYMENT_STARTED = "deployment_started"

    def __str__(self) -> str:
        return str(self.value)
