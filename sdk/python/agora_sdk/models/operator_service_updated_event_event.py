from enum import Enum


class OperatorServiceUpdatedEventEvent(str, Enum):
    SERVICE_UPDATED = "service_updated"

    def __str__(self) -> str:
        return str(self.value)
