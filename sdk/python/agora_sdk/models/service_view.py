from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.service_status import ServiceStatus
from typing import cast
from typing import Union

if TYPE_CHECKING:
    from ..models.waiting_reason import WaitingReason
    from ..models.service_version import ServiceVersion
    from ..models.backoff_view import BackoffView
    from ..models.deployment_view import DeploymentView
    from ..models.instance_view import InstanceView
    from ..models.service_spec import ServiceSpec


T = TypeVar("T", bound="ServiceView")


@_attrs_define
class ServiceView:
    """`GET /v1/services/{id}`.

    Attributes:
        id (str):
        spec (ServiceSpec): `PUT /v1/services/{id}`: what a service runs, how many, where and how it is rolled out.
        version (int): The version its instances are being brought to.
        versions (list['ServiceVersion']): The versions kept, newest first: what `rollback` can go back to.
        status (ServiceStatus): What a service is doing, as `agora service list` shows it.
        instances (list['InstanceView']):
        healthy (int): Instances of the current version that are healthy.
        waiting_reasons (list['WaitingReason']): Why instances are not placed or not healthy yet; empty when nothing
            waits.
        deployment (Union['DeploymentView', None, Unset]):
        backoff (Union['BackoffView', None, Unset]):
    """

    id: str
    spec: "ServiceSpec"
    version: int
    versions: list["ServiceVersion"]
    status: ServiceStatus
    instances: list["InstanceView"]
    healthy: int
    waiting_reasons: list["WaitingReason"]
    deployment: Union["DeploymentView", None, Unset] = UNSET
    backoff: Union["BackoffView", None, Unset] = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.backoff_view import BackoffView
        from ..models.deployment_view import DeploymentView

        id = self.id

        spec = self.spec.to_dict()

        version = self.version

        versions = []
        for versions_item_data in self.versions:
            versions_item = versions_item_data.to_dict()
            versions.append(versions_item)

        status = self.status.value

        instances = []
        for instances_item_data in self.instances:
            instances_item = instances_item_data.to_dict()
            instances.append(instances_item)

        healthy = self.healthy

        waiting_reasons = []
        for waiting_reasons_item_data in self.waiting_reasons:
            waiting_reasons_item = waiting_reasons_item_data.to_dict()
            waiting_reasons.append(waiting_reasons_item)

        deployment: Union[None, Unset, dict[str, Any]]
        if isinstance(self.deployment, Unset):
            deployment = UNSET
        elif isinstance(self.deployment, DeploymentView):
            deployment = self.deployment.to_dict()
        else:
            deployment = self.deployment

        backoff: Union[None, Unset, dict[str, Any]]
        if isinstance(self.backoff, Unset):
            backoff = UNSET
        elif isinstance(self.backoff, BackoffView):
            backoff = self.backoff.to_dict()
        else:
            backoff = self.backoff

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "spec": spec,
                "version": version,
                "versions": versions,
                "status": status,
                "instances": instances,
                "healthy": healthy,
                "waiting_reasons": waiting_reasons,
            }
        )
        if deployment is not UNSET:
            field_dict["deployment"] = deployment
        if backoff is not UNSET:
            field_dict["backoff"] = backoff

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.waiting_reason import WaitingReason
        from ..models.service_version import ServiceVersion
        from ..models.backoff_view import BackoffView
        from ..models.deployment_view import DeploymentView
        from ..models.instance_view import InstanceView
        from ..models.service_spec import ServiceSpec

        d = dict(src_dict)
        id = d.pop("id")

        spec = ServiceSpec.from_dict(d.pop("spec"))

        version = d.pop("version")

        versions = []
        _versions = d.pop("versions")
        for versions_item_data in _versions:
            versions_item = ServiceVersion.from_dict(versions_item_data)

            versions.append(versions_item)

        status = ServiceStatus(d.pop("status"))

        instances = []
        _instances = d.pop("instances")
        for instances_item_data in _instances:
            instances_item = InstanceView.from_dict(instances_item_data)

            instances.append(instances_item)

        healthy = d.pop("healthy")

        waiting_reasons = []
        _waiting_reasons = d.pop("waiting_reasons")
        for waiting_reasons_item_data in _waiting_reasons:
            waiting_reasons_item = WaitingReason.from_dict(waiting_reasons_item_data)

            waiting_reasons.append(waiting_reasons_item)

        def _parse_deployment(data: object) -> Union["DeploymentView", None, Unset]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                deployment_type_1 = DeploymentView.from_dict(data)

                return deployment_type_1
            except:  # noqa: E722
                pass
            return cast(Union["DeploymentView", None, Unset], data)

        deployment = _parse_deployment(d.pop("deployment", UNSET))

        def _parse_backoff(data: object) -> Union["BackoffView", None, Unset]:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                backoff_type_1 = BackoffView.from_dict(data)

                return backoff_type_1
            except:  # noqa: E722
                pass
            return cast(Union["BackoffView", None, Unset], data)

        backoff = _parse_backoff(d.pop("backoff", UNSET))

        service_view = cls(
            id=id,
            spec=spec,
            version=version,
            versions=versions,
            status=status,
            instances=instances,
            healthy=healthy,
            waiting_reasons=waiting_reasons,
            deployment=deployment,
            backoff=backoff,
        )

        service_view.additional_properties = d
        return service_view

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
