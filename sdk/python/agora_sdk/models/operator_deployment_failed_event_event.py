from enum import Enum


class OperatorDeploymentFailedEventEvent(str, Enum):
    DEPLOYMENT_FAILED = "deployment_failed"

    def __str__(self) -> str:
        return str(self.value)
