from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define

from ..types import UNSET, Unset

from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.launch_operation import LaunchOperation
    from ..models.filters import Filters
    from ..models.reserve_operation import ReserveOperation
    from ..models.unreserve_operation import UnreserveOperation
    from ..models.create_volume_operation import CreateVolumeOperation
    from ..models.destroy_volume_operation import DestroyVolumeOperation


T = TypeVar("T", bound="Accept")


@_attrs_define
class Accept:
    """`POST /v1/frameworks/{id}/accept`.

    Attributes:
        offer_ids (list[str]):
        operations (list[Union['CreateVolumeOperation', 'DestroyVolumeOperation', 'LaunchOperation', 'ReserveOperation',
            'UnreserveOperation']]):
        filters (Union[Unset, Filters]): Offer filters set by accept and decline.
    """

    offer_ids: list[str]
    operations: list[
        Union[
            "CreateVolumeOperation",
            "DestroyVolumeOperation",
            "LaunchOperation",
            "ReserveOperation",
            "UnreserveOperation",
        ]
    ]
    filters: Union[Unset, "Filters"] = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.launch_operation import LaunchOperation
        from ..models.reserve_operation import ReserveOperation
        from ..models.unreserve_operation import UnreserveOperation
        from ..models.create_volume_operation import CreateVolumeOperation

        offer_ids = self.offer_ids

        operations = []
        for operations_item_data in self.operations:
            operations_item: dict[str, Any]
            if isinstance(operations_item_data, LaunchOperation):
                operations_item = operations_item_data.to_dict()
            elif isinstance(operations_item_data, ReserveOperation):
                operations_item = operations_item_data.to_dict()
            elif isinstance(operations_item_data, UnreserveOperation):
                operations_item = operations_item_data.to_dict()
            elif isinstance(operations_item_data, CreateVolumeOperation):
                operations_item = operations_item_data.to_dict()
            else:
                operations_item = operations_item_data.to_dict()

            operations.append(operations_item)

        filters: Union[Unset, dict[str, Any]] = UNSET
        if not isinstance(self.filters, Unset):
            filters = self.filters.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "offer_ids": offer_ids,
                "operations": operations,
            }
        )
        if filters is not UNSET:
            field_dict["filters"] = filters

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.launch_operation import LaunchOperation
        from ..models.filters import Filters
        from ..models.reserve_operation import ReserveOperation
        from ..models.unreserve_operation import UnreserveOperation
        from ..models.create_volume_operation import CreateVolumeOperation
        from ..models.destroy_volume_operation import DestroyVolumeOperation

        d = dict(src_dict)
        offer_ids = cast(list[str], d.pop("offer_ids"))

        operations = []
        _operations = d.pop("operations")
        for operations_item_data in _operations:

            def _parse_operations_item(
                data: object,
            ) -> Union[
                "CreateVolumeOperation",
                "DestroyVolumeOperation",
                "LaunchOperation",
                "ReserveOperation",
                "UnreserveOperation",
            ]:
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_operation_launch_operation = (
                        LaunchOperation.from_dict(data)
                    )

                    return componentsschemas_operation_launch_operation
                except:  # noqa: E722
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_operation_reserve_operation = (
                        ReserveOperation.from_dict(data)
                    )

                    return componentsschemas_operation_reserve_operation
                except:  # noqa: E722
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_operation_unreserve_operation = (
                        UnreserveOperation.from_dict(data)
                    )

                    return componentsschemas_operation_unreserve_operation
                except:  # noqa: E722
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_operation_create_volume_operation = (
                        CreateVolumeOperation.from_dict(data)
                    )

                    return componentsschemas_operation_create_volume_operation
                except:  # noqa: E722
                    pass
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_operation_destroy_volume_operation = (
                    DestroyVolumeOperation.from_dict(data)
                )

                return componentsschemas_operation_destroy_volume_operation

            operations_item = _parse_operations_item(operations_item_data)

            operations.append(operations_item)

        _filters = d.pop("filters", UNSET)
        filters: Union[Unset, Filters]
        if isinstance(_filters, Unset):
            filters = UNSET
        else:
            filters = Filters.from_dict(_filters)

        accept = cls(
            offer_ids=offer_ids,
            operations=operations,
            filters=filters,
        )

        return accept
