"""The fields of Temporal's history events, as the Temporal API (temporalio 1.35.0) defines them.

Generated from `temporalio.api.history.v1.HistoryEvent`; used to notice (and report once)
event types and attributes newer than what wfkit knows. Keep it in sync when the API grows.
"""

from __future__ import annotations

__all__ = ["EVENT_FIELDS", "EVENT_TYPES", "EVENT_TYPE_NUMBERS"]

#: `temporal.api.enums.v1.EventType` numbers -> PascalCase names (proto JSON may write an enum as its number).
EVENT_TYPE_NUMBERS: dict[int, str] = {
    1: "WorkflowExecutionStarted",
    2: "WorkflowExecutionCompleted",
    3: "WorkflowExecutionFailed",
    4: "WorkflowExecutionTimedOut",
    5: "WorkflowTaskScheduled",
    6: "WorkflowTaskStarted",
    7: "WorkflowTaskCompleted",
    8: "WorkflowTaskTimedOut",
    9: "WorkflowTaskFailed",
    10: "ActivityTaskScheduled",
    11: "ActivityTaskStarted",
    12: "ActivityTaskCompleted",
    13: "ActivityTaskFailed",
    14: "ActivityTaskTimedOut",
    15: "ActivityTaskCancelRequested",
    16: "ActivityTaskCanceled",
    17: "TimerStarted",
    18: "TimerFired",
    19: "TimerCanceled",
    20: "WorkflowExecutionCancelRequested",
    21: "WorkflowExecutionCanceled",
    22: "RequestCancelExternalWorkflowExecutionInitiated",
    23: "RequestCancelExternalWorkflowExecutionFailed",
    24: "ExternalWorkflowExecutionCancelRequested",
    25: "MarkerRecorded",
    26: "WorkflowExecutionSignaled",
    27: "WorkflowExecutionTerminated",
    28: "WorkflowExecutionContinuedAsNew",
    29: "StartChildWorkflowExecutionInitiated",
    30: "StartChildWorkflowExecutionFailed",
    31: "ChildWorkflowExecutionStarted",
    32: "ChildWorkflowExecutionCompleted",
    33: "ChildWorkflowExecutionFailed",
    34: "ChildWorkflowExecutionCanceled",
    35: "ChildWorkflowExecutionTimedOut",
    36: "ChildWorkflowExecutionTerminated",
    37: "SignalExternalWorkflowExecutionInitiated",
    38: "SignalExternalWorkflowExecutionFailed",
    39: "ExternalWorkflowExecutionSignaled",
    40: "UpsertWorkflowSearchAttributes",
    41: "WorkflowExecutionUpdateAccepted",
    42: "WorkflowExecutionUpdateRejected",
    43: "WorkflowExecutionUpdateCompleted",
    44: "WorkflowPropertiesModifiedExternally",
    45: "ActivityPropertiesModifiedExternally",
    46: "WorkflowPropertiesModified",
    47: "WorkflowExecutionUpdateAdmitted",
    48: "NexusOperationScheduled",
    49: "NexusOperationStarted",
    50: "NexusOperationCompleted",
    51: "NexusOperationFailed",
    52: "NexusOperationCanceled",
    53: "NexusOperationTimedOut",
    54: "NexusOperationCancelRequested",
    55: "WorkflowExecutionOptionsUpdated",
    56: "NexusOperationCancelRequestCompleted",
    57: "NexusOperationCancelRequestFailed",
    58: "WorkflowExecutionPaused",
    59: "WorkflowExecutionUnpaused",
    60: "WorkflowExecutionTimeSkippingTransitioned",
}

#: Keys of a history event outside its attributes object.
EVENT_FIELDS: frozenset[str] = frozenset(
    ["eventId", "eventTime", "eventType", "version", "taskId", "workerMayIgnore", "userMetadata", "links", "principal", "eventGroupMarkers"]
)

#: PascalCase event type -> the JSON names of its attributes.
EVENT_TYPES: dict[str, frozenset[str]] = {
    "WorkflowExecutionStarted": frozenset(
        [
            "attempt",
            "completionCallbacks",
            "continuedExecutionRunId",
            "continuedFailure",
            "cronSchedule",
            "declinedTargetVersionUpgrade",
            "eagerExecutionAccepted",
            "firstExecutionRunId",
            "firstWorkflowTaskBackoff",
            "header",
            "identity",
            "inheritedAutoUpgradeInfo",
            "inheritedBuildId",
            "inheritedPinnedVersion",
            "initiator",
            "input",
            "lastCompletionResult",
            "memo",
            "originalExecutionRunId",
            "parentInitiatedEventId",
            "parentInitiatedEventVersion",
            "parentPinnedWorkerDeploymentVersion",
            "parentWorkflowExecution",
            "parentWorkflowNamespace",
            "parentWorkflowNamespaceId",
            "prevAutoResetPoints",
            "priority",
            "propagatedNexusSerializationContext",
            "retryPolicy",
            "rootWorkflowExecution",
            "searchAttributes",
            "sourceVersionStamp",
            "taskQueue",
            "timeSkippingConfig",
            "timeSkippingStatePropagation",
            "versioningOverride",
            "workflowExecutionExpirationTime",
            "workflowExecutionTimeout",
            "workflowId",
            "workflowRunTimeout",
            "workflowTaskTimeout",
            "workflowType",
        ]
    ),
    "WorkflowExecutionCompleted": frozenset(["newExecutionRunId", "result", "workflowTaskCompletedEventId"]),
    "WorkflowExecutionFailed": frozenset(["failure", "newExecutionRunId", "retryState", "workflowTaskCompletedEventId"]),
    "WorkflowExecutionTimedOut": frozenset(["newExecutionRunId", "retryState"]),
    "WorkflowTaskScheduled": frozenset(["attempt", "startToCloseTimeout", "taskQueue"]),
    "WorkflowTaskStarted": frozenset(
        [
            "buildIdRedirectCounter",
            "historySizeBytes",
            "identity",
            "requestId",
            "scheduledEventId",
            "suggestContinueAsNew",
            "suggestContinueAsNewReasons",
            "targetWorkerDeploymentVersionChanged",
            "workerVersion",
        ]
    ),
    "WorkflowTaskCompleted": frozenset(
        [
            "binaryChecksum",
            "deployment",
            "deploymentVersion",
            "identity",
            "meteringMetadata",
            "scheduledEventId",
            "sdkMetadata",
            "startedEventId",
            "versioningBehavior",
            "workerDeploymentName",
            "workerDeploymentVersion",
            "workerVersion",
        ]
    ),
    "WorkflowTaskTimedOut": frozenset(["scheduledEventId", "startedEventId", "timeoutType"]),
    "WorkflowTaskFailed": frozenset(
        ["baseRunId", "binaryChecksum", "cause", "failure", "forkEventVersion", "identity", "newRunId", "scheduledEventId", "startedEventId", "workerVersion"]
    ),
    "ActivityTaskScheduled": frozenset(
        [
            "activityId",
            "activityType",
            "header",
            "heartbeatTimeout",
            "input",
            "priority",
            "retryPolicy",
            "scheduleToCloseTimeout",
            "scheduleToStartTimeout",
            "startToCloseTimeout",
            "taskQueue",
            "useWorkflowBuildId",
            "workflowTaskCompletedEventId",
        ]
    ),
    "ActivityTaskStarted": frozenset(["attempt", "buildIdRedirectCounter", "identity", "lastFailure", "requestId", "scheduledEventId", "workerVersion"]),
    "ActivityTaskCompleted": frozenset(["identity", "result", "scheduledEventId", "startedEventId", "workerVersion"]),
    "ActivityTaskFailed": frozenset(["cause", "failure", "identity", "retryState", "scheduledEventId", "startedEventId", "workerVersion"]),
    "ActivityTaskTimedOut": frozenset(["failure", "retryState", "scheduledEventId", "startedEventId"]),
    "ActivityTaskCancelRequested": frozenset(["scheduledEventId", "workflowTaskCompletedEventId"]),
    "ActivityTaskCanceled": frozenset(["details", "identity", "latestCancelRequestedEventId", "scheduledEventId", "startedEventId", "workerVersion"]),
    "TimerStarted": frozenset(["startToFireTimeout", "timerId", "workflowTaskCompletedEventId"]),
    "TimerFired": frozenset(["startedEventId", "timerId"]),
    "TimerCanceled": frozenset(["identity", "startedEventId", "timerId", "workflowTaskCompletedEventId"]),
    "WorkflowExecutionCancelRequested": frozenset(["cause", "externalInitiatedEventId", "externalWorkflowExecution", "identity"]),
    "WorkflowExecutionCanceled": frozenset(["details", "workflowTaskCompletedEventId"]),
    "RequestCancelExternalWorkflowExecutionInitiated": frozenset(
        ["childWorkflowOnly", "control", "namespace", "namespaceId", "reason", "workflowExecution", "workflowTaskCompletedEventId"]
    ),
    "RequestCancelExternalWorkflowExecutionFailed": frozenset(
        ["cause", "control", "initiatedEventId", "namespace", "namespaceId", "workflowExecution", "workflowTaskCompletedEventId"]
    ),
    "ExternalWorkflowExecutionCancelRequested": frozenset(["initiatedEventId", "namespace", "namespaceId", "workflowExecution"]),
    "MarkerRecorded": frozenset(["details", "failure", "header", "markerName", "workflowTaskCompletedEventId"]),
    "WorkflowExecutionSignaled": frozenset(["externalWorkflowExecution", "header", "identity", "input", "requestId", "signalName", "skipGenerateWorkflowTask"]),
    "WorkflowExecutionTerminated": frozenset(["details", "identity", "reason"]),
    "WorkflowExecutionContinuedAsNew": frozenset(
        [
            "backoffStartInterval",
            "failure",
            "header",
            "inheritBuildId",
            "initialVersioningBehavior",
            "initiator",
            "input",
            "lastCompletionResult",
            "memo",
            "newExecutionRunId",
            "searchAttributes",
            "taskQueue",
            "workflowRunTimeout",
            "workflowTaskCompletedEventId",
            "workflowTaskTimeout",
            "workflowType",
        ]
    ),
    "StartChildWorkflowExecutionInitiated": frozenset(
        [
            "control",
            "cronSchedule",
            "header",
            "inheritBuildId",
            "input",
            "memo",
            "namespace",
            "namespaceId",
            "parentClosePolicy",
            "priority",
            "retryPolicy",
            "searchAttributes",
            "taskQueue",
            "timeSkippingConfig",
            "timeSkippingStatePropagation",
            "versioningOverride",
            "workflowExecutionTimeout",
            "workflowId",
            "workflowIdReusePolicy",
            "workflowRunTimeout",
            "workflowTaskCompletedEventId",
            "workflowTaskTimeout",
            "workflowType",
        ]
    ),
    "StartChildWorkflowExecutionFailed": frozenset(
        ["cause", "control", "initiatedEventId", "namespace", "namespaceId", "workflowId", "workflowTaskCompletedEventId", "workflowType"]
    ),
    "ChildWorkflowExecutionStarted": frozenset(["header", "initiatedEventId", "namespace", "namespaceId", "workflowExecution", "workflowType"]),
    "ChildWorkflowExecutionCompleted": frozenset(
        ["initiatedEventId", "namespace", "namespaceId", "result", "startedEventId", "workflowExecution", "workflowType"]
    ),
    "ChildWorkflowExecutionFailed": frozenset(
        ["failure", "initiatedEventId", "namespace", "namespaceId", "retryState", "startedEventId", "workflowExecution", "workflowType"]
    ),
    "ChildWorkflowExecutionCanceled": frozenset(
        ["details", "initiatedEventId", "namespace", "namespaceId", "startedEventId", "workflowExecution", "workflowType"]
    ),
    "ChildWorkflowExecutionTimedOut": frozenset(
        ["initiatedEventId", "namespace", "namespaceId", "retryState", "startedEventId", "workflowExecution", "workflowType"]
    ),
    "ChildWorkflowExecutionTerminated": frozenset(["initiatedEventId", "namespace", "namespaceId", "startedEventId", "workflowExecution", "workflowType"]),
    "SignalExternalWorkflowExecutionInitiated": frozenset(
        ["childWorkflowOnly", "control", "header", "input", "namespace", "namespaceId", "signalName", "workflowExecution", "workflowTaskCompletedEventId"]
    ),
    "SignalExternalWorkflowExecutionFailed": frozenset(
        ["cause", "control", "initiatedEventId", "namespace", "namespaceId", "workflowExecution", "workflowTaskCompletedEventId"]
    ),
    "ExternalWorkflowExecutionSignaled": frozenset(["control", "initiatedEventId", "namespace", "namespaceId", "workflowExecution"]),
    "UpsertWorkflowSearchAttributes": frozenset(["searchAttributes", "workflowTaskCompletedEventId"]),
    "WorkflowExecutionUpdateAdmitted": frozenset(["origin", "request"]),
    "WorkflowExecutionUpdateAccepted": frozenset(["acceptedRequest", "acceptedRequestMessageId", "acceptedRequestSequencingEventId", "protocolInstanceId"]),
    "WorkflowExecutionUpdateRejected": frozenset(
        ["failure", "protocolInstanceId", "rejectedRequest", "rejectedRequestMessageId", "rejectedRequestSequencingEventId"]
    ),
    "WorkflowExecutionUpdateCompleted": frozenset(["acceptedEventId", "meta", "outcome"]),
    "WorkflowPropertiesModifiedExternally": frozenset(
        ["newTaskQueue", "newWorkflowExecutionTimeout", "newWorkflowRunTimeout", "newWorkflowTaskTimeout", "upsertedMemo"]
    ),
    "ActivityPropertiesModifiedExternally": frozenset(["newRetryPolicy", "scheduledEventId"]),
    "WorkflowPropertiesModified": frozenset(["upsertedMemo", "workflowTaskCompletedEventId"]),
    "NexusOperationScheduled": frozenset(
        [
            "endpoint",
            "endpointId",
            "input",
            "nexusHeader",
            "operation",
            "requestId",
            "scheduleToCloseTimeout",
            "scheduleToStartTimeout",
            "service",
            "startToCloseTimeout",
            "workflowTaskCompletedEventId",
        ]
    ),
    "NexusOperationStarted": frozenset(["operationId", "operationToken", "requestId", "scheduledEventId"]),
    "NexusOperationCompleted": frozenset(["requestId", "result", "scheduledEventId"]),
    "NexusOperationFailed": frozenset(["failure", "requestId", "scheduledEventId"]),
    "NexusOperationCanceled": frozenset(["failure", "requestId", "scheduledEventId"]),
    "NexusOperationTimedOut": frozenset(["failure", "requestId", "scheduledEventId"]),
    "NexusOperationCancelRequested": frozenset(["scheduledEventId", "workflowTaskCompletedEventId"]),
    "WorkflowExecutionOptionsUpdated": frozenset(
        [
            "attachedCompletionCallbacks",
            "attachedRequestId",
            "identity",
            "priority",
            "timeSkippingConfig",
            "timeSkippingConfigUpdated",
            "unsetVersioningOverride",
            "versioningOverride",
            "workflowUpdateOptions",
        ]
    ),
    "NexusOperationCancelRequestCompleted": frozenset(["requestedEventId", "scheduledEventId", "workflowTaskCompletedEventId"]),
    "NexusOperationCancelRequestFailed": frozenset(["failure", "requestedEventId", "scheduledEventId", "workflowTaskCompletedEventId"]),
    "WorkflowExecutionPaused": frozenset(["identity", "reason", "requestId"]),
    "WorkflowExecutionUnpaused": frozenset(["identity", "reason", "requestId"]),
    "WorkflowExecutionTimeSkippingTransitioned": frozenset(["disabledAfterFastForward", "targetTime", "wallClockTime"]),
}
