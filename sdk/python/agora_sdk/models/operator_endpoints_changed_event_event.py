from enum import Enum


class OperatorEndpointsChangedEventEvent(str, Enum):
    ENDPOINTS_CHANGED = "endpoints_changed"

    def __str__(self) -> str:
        return str(self.value)
