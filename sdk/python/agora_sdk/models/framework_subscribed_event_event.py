from enum import Enum


class FrameworkSubscribedEventEvent(str, Enum):
    SUBSCRIBED = "subscribed"

    def __str__(self) -> str:
        return str(self.value)
