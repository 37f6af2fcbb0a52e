from enum import Enum


class OperatorDeploymentStepEventEvent(str, Enum):
    DEPLOYMENT_STEP = "deployment_step"

    def __str__(self) -> str:
        return str(self.value)
