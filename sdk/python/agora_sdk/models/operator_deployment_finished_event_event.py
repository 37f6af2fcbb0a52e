from enum import Enum


class OperatorDeploymentFinishedEventEvent(str, Enum):
    DEPLOYMENT_FINISHED = "deployment_finished"

    def __str__(self) -> str:
        return str(self.value)
