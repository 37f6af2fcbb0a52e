from enum import Enum


class FrameworkOffersEventEvent(str, Enum):
    OFFERS = "offers"

    def __str__(self) -> str:
        return str(self.value)
