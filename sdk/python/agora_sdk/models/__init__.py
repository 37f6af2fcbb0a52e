"""Contains all the data models used in inputs/outputs"""

from .accept import Accept
from .acknowledge import Acknowledge
from .acknowledge_command import AcknowledgeCommand
from .acquire_lease import AcquireLease
from .agent_acknowledge_event import AgentAcknowledgeEvent
from .agent_acknowledge_event_event import AgentAcknowledgeEventEvent
from .agent_destroy_volume_event import AgentDestroyVolumeEvent
from .agent_destroy_volume_event_event import AgentDestroyVolumeEventEvent
from .agent_error_event import AgentErrorEvent
from .agent_error_event_event import AgentErrorEventEvent
from .agent_event import AgentEvent
from .agent_kill_event import AgentKillEvent
from .agent_kill_event_event import AgentKillEventEvent
from .agent_launch_event import AgentLaunchEvent
from .agent_launch_event_event import AgentLaunchEventEvent
from .agent_list import AgentList
from .agent_ping_event import AgentPingEvent
from .agent_ping_event_event import AgentPingEventEvent
from .agent_read_log_event import AgentReadLogEvent
from .agent_read_log_event_event import AgentReadLogEventEvent
from .agent_registered import AgentRegistered
from .agent_shutdown_event import AgentShutdownEvent
from .agent_shutdown_event_event import AgentShutdownEventEvent
from .agent_state import AgentState
from .agent_view import AgentView
from .agent_view_attributes import AgentViewAttributes
from .agent_view_reserved import AgentViewReserved
from .argv_command import ArgvCommand
from .attribute_selector import AttributeSelector
from .autoscaler_event import AutoscalerEvent
from .backoff import Backoff
from .backoff_view import BackoffView
from .capability import Capability
from .cluster_view import ClusterView
from .command_check import CommandCheck
from .container_info import ContainerInfo
from .container_volume import ContainerVolume
from .containerizer import Containerizer
from .create_volume import CreateVolume
from .create_volume_operation import CreateVolumeOperation
from .create_volume_operation_type import CreateVolumeOperationType
from .deactivated import Deactivated
from .deactivated_mode import DeactivatedMode
from .decline import Decline
from .demand import Demand
from .demand_tasks import DemandTasks
from .deployment_event import DeploymentEvent
from .deployment_list import DeploymentList
from .deployment_started import DeploymentStarted
from .deployment_step import DeploymentStep
from .deployment_view import DeploymentView
from .destroy_volume_command import DestroyVolumeCommand
from .destroy_volume_operation import DestroyVolumeOperation
from .destroy_volume_operation_type import DestroyVolumeOperationType
from .diagnostics import Diagnostics
from .drain_agent import DrainAgent
from .draining import Draining
from .draining_mode import DrainingMode
from .endpoint import Endpoint
from .endpoint_ports import EndpointPorts
from .endpoints import Endpoints
from .endpoints_event import EndpointsEvent
from .error_body import ErrorBody
from .failure import Failure
from .fetch_uri import FetchUri
from .filters import Filters
from .framework_error_event import FrameworkErrorEvent
from .framework_error_event_event import FrameworkErrorEventEvent
from .framework_event_data import FrameworkEventData
from .framework_failure_event import FrameworkFailureEvent
from .framework_failure_event_event import FrameworkFailureEventEvent
from .framework_heartbeat_event import FrameworkHeartbeatEvent
from .framework_heartbeat_event_event import FrameworkHeartbeatEventEvent
from .framework_inverse_offers_event import FrameworkInverseOffersEvent
from .framework_inverse_offers_event_event import FrameworkInverseOffersEventEvent
from .framework_list import FrameworkList
from .framework_offers_event import FrameworkOffersEvent
from .framework_offers_event_event import FrameworkOffersEventEvent
from .framework_registered import FrameworkRegistered
from .framework_rescind_event import FrameworkRescindEvent
from .framework_rescind_event_event import FrameworkRescindEventEvent
from .framework_subscribed_event import FrameworkSubscribedEvent
from .framework_subscribed_event_event import FrameworkSubscribedEventEvent
from .framework_update_event import FrameworkUpdateEvent
from .framework_update_event_event import FrameworkUpdateEventEvent
from .framework_view import FrameworkView
from .health_check import HealthCheck
from .http_check import HttpCheck
from .http_probe import HttpProbe
from .instance_view import InstanceView
from .inverse_offer import InverseOffer
from .inverse_offers import InverseOffers
from .kill import Kill
from .kill_command import KillCommand
from .kill_selection import KillSelection
from .labels import Labels
from .launch_command import LaunchCommand
from .launch_operation import LaunchOperation
from .launch_operation_type import LaunchOperationType
from .lease import Lease
from .log_stream import LogStream
from .network_mode import NetworkMode
from .offer import Offer
from .offer_attributes import OfferAttributes
from .offer_constraint import OfferConstraint
from .offer_filters import OfferFilters
from .offer_filters_min_allocatable_resources_item import (
    OfferFiltersMinAllocatableResourcesItem,
)
from .offer_list import OfferList
from .offers import Offers
from .openapi_json_response_200 import OpenapiJsonResponse200
from .operator_agent_added_event import OperatorAgentAddedEvent
from .operator_agent_added_event_event import OperatorAgentAddedEventEvent
from .operator_agent_removed_event import OperatorAgentRemovedEvent
from .operator_agent_removed_event_event import OperatorAgentRemovedEventEvent
from .operator_agent_unreachable_event import OperatorAgentUnreachableEvent
from .operator_agent_unreachable_event_event import OperatorAgentUnreachableEventEvent
from .operator_autoscaler_event import OperatorAutoscalerEvent
from .operator_autoscaler_event_event import OperatorAutoscalerEventEvent
from .operator_deployment_failed_event import OperatorDeploymentFailedEvent
from .operator_deployment_failed_event_event import OperatorDeploymentFailedEventEvent
from .operator_deployment_finished_event import OperatorDeploymentFinishedEvent
from .operator_deployment_finished_event_event import (
    OperatorDeploymentFinishedEventEvent,
)
from .operator_deployment_started_event import OperatorDeploymentStartedEvent
from .operator_deployment_started_event_event import OperatorDeploymentStartedEventEvent
from .operator_deployment_step_event import OperatorDeploymentStepEvent
from .operator_deployment_step_event_event import OperatorDeploymentStepEventEvent
from .operator_endpoints_changed_event import OperatorEndpointsChangedEvent
from .operator_endpoints_changed_event_event import OperatorEndpointsChangedEventEvent
from .operator_error_event import OperatorErrorEvent
from .operator_error_event_event import OperatorErrorEventEvent
from .operator_framework_added_event import OperatorFrameworkAddedEvent
from .operator_framework_added_event_event import OperatorFrameworkAddedEventEvent
from .operator_framework_removed_event import OperatorFrameworkRemovedEvent
from .operator_framework_removed_event_event import OperatorFrameworkRemovedEventEvent
from .operator_heartbeat_event import OperatorHeartbeatEvent
from .operator_heartbeat_event_event import OperatorHeartbeatEventEvent
from .operator_service_updated_event import OperatorServiceUpdatedEvent
from .operator_service_updated_event_event import OperatorServiceUpdatedEventEvent
from .operator_task_updated_event import OperatorTaskUpdatedEvent
from .operator_task_updated_event_event import OperatorTaskUpdatedEventEvent
from .port_mapping import PortMapping
from .predicate_type_0 import PredicateType0
from .predicate_type_1 import PredicateType1
from .predicate_type_2 import PredicateType2
from .predicate_type_3 import PredicateType3
from .predicate_type_4 import PredicateType4
from .protocol import Protocol
from .pull_policy import PullPolicy
from .quota import Quota
from .quota_guarantee import QuotaGuarantee
from .quota_limit import QuotaLimit
from .read_log_command import ReadLogCommand
from .readiness_check import ReadinessCheck
from .reason import Reason
from .reconcile import Reconcile
from .reconcile_task import ReconcileTask
from .reconciled import Reconciled
from .register_agent import RegisterAgent
from .register_agent_attributes import RegisterAgentAttributes
from .register_agent_reserved import RegisterAgentReserved
from .register_framework import RegisterFramework
from .register_framework_offer_constraints import RegisterFrameworkOfferConstraints
from .register_framework_offer_filters import RegisterFrameworkOfferFilters
from .rescind import Rescind
from .reservation import Reservation
from .reserve_operation import ReserveOperation
from .reserve_operation_type import ReserveOperationType
from .reserve_resources import ReserveResources
from .resources import Resources
from .role_config import RoleConfig
from .role_diagnostics import RoleDiagnostics
from .role_list import RoleList
from .role_view import RoleView
from .roles import Roles
from .rollback import Rollback
from .running_task import RunningTask
from .scale import Scale
from .selector_type_0 import SelectorType0
from .service_event import ServiceEvent
from .service_list import ServiceList
from .service_port import ServicePort
from .service_spec import ServiceSpec
from .service_status import ServiceStatus
from .service_version import ServiceVersion
from .service_view import ServiceView
from .shell_command import ShellCommand
from .status_updates import StatusUpdates
from .subscribed import Subscribed
from .task_event import TaskEvent
from .task_info import TaskInfo
from .task_info_env import TaskInfoEnv
from .task_list import TaskList
from .task_state import TaskState
from .task_status import TaskStatus
from .task_template import TaskTemplate
from .task_template_env import TaskTemplateEnv
from .task_view import TaskView
from .tcp_check import TcpCheck
from .tcp_probe import TcpProbe
from .unreachable_strategy import UnreachableStrategy
from .unreserve_operation import UnreserveOperation
from .unreserve_operation_type import UnreserveOperationType
from .update import Update
from .upgrade_strategy import UpgradeStrategy
from .volume import Volume
from .volume_mode import VolumeMode
from .waiting_reason import WaitingReason

__all__ = (
    "Accept",
    "Acknowledge",
    "AcknowledgeCommand",
    "AcquireLease",
    "AgentAcknowledgeEvent",
    "AgentAcknowledgeEventEvent",
    "AgentDestroyVolumeEvent",
    "AgentDestroyVolumeEventEvent",
    "AgentErrorEvent",
    "AgentErrorEventEvent",
    "AgentEvent",
    "AgentKillEvent",
    "AgentKillEventEvent",
    "AgentLaunchEvent",
    "AgentLaunchEventEvent",
    "AgentList",
    "AgentPingEvent",
    "AgentPingEventEvent",
    "AgentReadLogEvent",
    "AgentReadLogEventEvent",
    "AgentRegistered",
    "AgentShutdownEvent",
    "AgentShutdownEventEvent",
    "AgentState",
    "AgentView",
    "AgentViewAttributes",
    "AgentViewReserved",
    "ArgvCommand",
    "AttributeSelector",
    "AutoscalerEvent",
    "Backoff",
    "BackoffView",
    "Capability",
    "ClusterView",
    "CommandCheck",
    "ContainerInfo",
    "Containerizer",
    "ContainerVolume",
    "CreateVolume",
    "CreateVolumeOperation",
    "CreateVolumeOperationType",
    "Deactivated",
    "DeactivatedMode",
    "Decline",
    "Demand",
    "DemandTasks",
    "DeploymentEvent",
    "DeploymentList",
    "DeploymentStarted",
    "DeploymentStep",
    "DeploymentView",
    "DestroyVolumeCommand",
    "DestroyVolumeOperation",
    "DestroyVolumeOperationType",
    "Diagnostics",
    "DrainAgent",
    "Draining",
    "DrainingMode",
    "Endpoint",
    "EndpointPorts",
    "Endpoints",
    "EndpointsEvent",
    "ErrorBody",
    "Failure",
    "FetchUri",
    "Filters",
    "FrameworkErrorEvent",
    "FrameworkErrorEventEvent",
    "FrameworkEventData",
    "FrameworkFailureEvent",
    "FrameworkFailureEventEvent",
    "FrameworkHeartbeatEvent",
    "FrameworkHeartbeatEventEvent",
    "FrameworkInverseOffersEvent",
    "FrameworkInverseOffersEventEvent",
    "FrameworkList",
    "FrameworkOffersEvent",
    "FrameworkOffersEventEvent",
    "FrameworkRegistered",
    "FrameworkRescindEvent",
    "FrameworkRescindEventEvent",
    "FrameworkSubscribedEvent",
    "FrameworkSubscribedEventEvent",
    "FrameworkUpdateEvent",
    "FrameworkUpdateEventEvent",
    "FrameworkView",
    "HealthCheck",
    "HttpCheck",
    "HttpProbe",
    "InstanceView",
    "InverseOffer",
    "InverseOffers",
    "Kill",
    "KillCommand",
    "KillSelection",
    "Labels",
    "LaunchCommand",
    "LaunchOperation",
    "LaunchOperationType",
    "Lease",
    "LogStream",
    "NetworkMode",
    "Offer",
    "OfferAttributes",
    "OfferConstraint",
    "OfferFilters",
    "OfferFiltersMinAllocatableResourcesItem",
    "OfferList",
    "Offers",
    "OpenapiJsonResponse200",
    "OperatorAgentAddedEvent",
    "OperatorAgentAddedEventEvent",
    "OperatorAgentRemovedEvent",
    "OperatorAgentRemovedEventEvent",
    "OperatorAgentUnreachableEvent",
    "OperatorAgentUnreachableEventEvent",
    "OperatorAutoscalerEvent",
    "OperatorAutoscalerEventEvent",
    "OperatorDeploymentFailedEvent",
    "OperatorDeploymentFailedEventEvent",
    "OperatorDeploymentFinishedEvent",
    "OperatorDeploymentFinishedEventEvent",
    "OperatorDeploymentStartedEvent",
    "OperatorDeploymentStartedEventEvent",
    "OperatorDeploymentStepEvent",
    "OperatorDeploymentStepEventEvent",
    "OperatorEndpointsChangedEvent",
    "OperatorEndpointsChangedEventEvent",
    "OperatorErrorEvent",
    "OperatorErrorEventEvent",
    "OperatorFrameworkAddedEvent",
    "OperatorFrameworkAddedEventEvent",
    "OperatorFrameworkRemovedEvent",
    "OperatorFrameworkRemovedEventEvent",
    "OperatorHeartbeatEvent",
    "OperatorHeartbeatEventEvent",
    "OperatorServiceUpdatedEvent",
    "OperatorServiceUpdatedEventEvent",
    "OperatorTaskUpdatedEvent",
    "OperatorTaskUpdatedEventEvent",
    "PortMapping",
    "PredicateType0",
    "PredicateType1",
    "PredicateType2",
    "PredicateType3",
    "PredicateType4",
    "Protocol",
    "PullPolicy",
    "Quota",
    "QuotaGuarantee",
    "QuotaLimit",
    "ReadinessCheck",
    "ReadLogCommand",
    "Reason",
    "Reconcile",
    "Reconciled",
    "ReconcileTask",
    "RegisterAgent",
    "RegisterAgentAttributes",
    "RegisterAgentReserved",
    "RegisterFramework",
    "RegisterFrameworkOfferConstraints",
    "RegisterFrameworkOfferFilters",
    "Rescind",
    "Reservation",
    "ReserveOperation",
    "ReserveOperationType",
    "ReserveResources",
    "Resources",
    "RoleConfig",
    "RoleDiagnostics",
    "RoleList",
    "Roles",
    "RoleView",
    "Rollback",
    "RunningTask",
    "Scale",
    "SelectorType0",
    "ServiceEvent",
    "ServiceList",
    "ServicePort",
    "ServiceSpec",
    "ServiceStatus",
    "ServiceVersion",
    "ServiceView",
    "ShellCommand",
    "StatusUpdates",
    "Subscribed",
    "TaskEvent",
    "TaskInfo",
    "TaskInfoEnv",
    "TaskList",
    "TaskState",
    "TaskStatus",
    "TaskTemplate",
    "TaskTemplateEnv",
    "TaskView",
    "TcpCheck",
    "TcpProbe",
    "UnreachableStrategy",
    "UnreserveOperation",
    "UnreserveOperationType",
    "Update",
    "UpgradeStrategy",
    "Volume",
    "VolumeMode",
    "WaitingReason",
)
