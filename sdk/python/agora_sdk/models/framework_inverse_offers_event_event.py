from enum import Enum


class FrameworkInverseOffersEventEvent(str, Enum):
    INVERSE_OFFERS = "inverse_offers"

    def __str__(self) -> str:
        return str(self.value)
