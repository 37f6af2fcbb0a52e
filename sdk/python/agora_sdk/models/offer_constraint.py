from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define


from ..models.predicate_type_0 import PredicateType0
from ..models.predicate_type_1 import PredicateType1
from ..models.selector_type_0 import SelectorType0
from typing import Union

if TYPE_CHECKING:
    from ..models.predicate_type_3 import PredicateType3
    from ..models.predicate_type_4 import PredicateType4
    from ..models.attribute_selector import AttributeSelector
    from ..models.predicate_type_2 import PredicateType2


T = TypeVar("T", bound="OfferConstraint")


@_attrs_define
class OfferConstraint:
    """One test an agent must pass for a role's offers to come from it.

    Attributes:
        selector (Union['AttributeSelector', SelectorType0]): What of the agent a constraint tests.
        predicate (Union['PredicateType2', 'PredicateType3', 'PredicateType4', PredicateType0, PredicateType1]): The
            test. `equals` and `not_equals` compare text; `matches` is a regular expression (Rust
            `regex` syntax) that must match the whole value. A missing attribute fails every test but
            `not_exists` and `not_equals`.
    """

    selector: Union["AttributeSelector", SelectorType0]
    predicate: Union[
        "PredicateType2",
        "PredicateType3",
        "PredicateType4",
        PredicateType0,
        PredicateType1,
    ]

    def to_dict(self) -> dict[str, Any]:
        from ..models.predicate_type_3 import PredicateType3
        from ..models.predicate_type_2 import PredicateType2

        selector: Union[dict[str, Any], str]
        if isinstance(self.selector, SelectorType0):
            selector = self.selector.value
        else:
            selector = self.selector.to_dict()

        predicate: Union[dict[str, Any], str]
        if isinstance(self.predicate, PredicateType0):
            predicate = self.predicate.value
        elif isinstance(self.predicate, PredicateType1):
            predicate = self.predicate.value
        elif isinstance(self.predicate, PredicateType2):
            predicate = self.predicate.to_dict()
        elif isinstance(self.predicate, PredicateType3):
            predicate = self.predicate.to_dict()
        else:
            predicate = self.predicate.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "selector": selector,
                "predicate": predicate,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.predicate_type_3 import PredicateType3
        from ..models.predicate_type_4 import PredicateType4
        from ..models.attribute_selector import AttributeSelector
        from ..models.predicate_type_2 import PredicateType2

        d = dict(src_dict)

        def _parse_selector(data: object) -> Union["AttributeSelector", SelectorType0]:
            try:
                if not isinstance(data, str):
                    raise TypeError()
                componentsschemas_selector_type_0 = SelectorType0(data)

                return componentsschemas_selector_type_0
            except:  # noqa: E722
                pass
            if not isinstance(data, dict):
                raise TypeError()
            componentsschemas_selector_attribute_selector = AttributeSelector.from_dict(
                data
            )

            return componentsschemas_selector_attribute_selector

        selector = _parse_selector(d.pop("selector"))

        def _parse_predicate(
            data: object,
        ) -> Union[
            "PredicateType2",
            "PredicateType3",
            "PredicateType4",
            PredicateType0,
            PredicateType1,
        ]:
            try:
                if not isinstance(data, str):
                    raise TypeError()
                componentsschemas_predicate_type_0 = PredicateType0(data)

                return componentsschemas_predicate_type_0
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                componentsschemas_predicate_type_1 = PredicateType1(data)

                return componentsschemas_predicate_type_1
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_predicate_type_2 = PredicateType2.from_dict(data)

                return componentsschemas_predicate_type_2
            except:  # noqa: E722
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_predicate_type_3 = PredicateType3.from_dict(data)

                return componentsschemas_predicate_type_3
            except:  # noqa: E722
                pass
            if not isinstance(data, dict):
                raise TypeError()
            componentsschemas_predicate_type_4 = PredicateType4.from_dict(data)

            return componentsschemas_predicate_type_4

        predicate = _parse_predicate(d.pop("predicate"))

        offer_constraint = cls(
            selector=selector,
            predicate=predicate,
        )

        return offer_constraint
