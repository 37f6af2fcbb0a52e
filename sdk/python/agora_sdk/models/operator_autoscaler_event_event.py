from enum import Enum


class OperatorAutoscalerEventEvent(str, Enum):
    AUTOSCALER = "autoscaler"

    def __str__(self) -> str:
        return str(self.value)
