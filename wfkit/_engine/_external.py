"""Signals and cancel requests one run sends another (`wfkit.signal_external`, `wfkit.cancel_external`).

As in Temporal, a request is two steps. The sender's workflow task records the `...Initiated` event;
once that is durable, the request is delivered: the target gets `WorkflowExecutionSignaled` (or
`WorkflowExecutionCancelRequested`) and the sender `ExternalWorkflowExecutionSignaled` (or
`ExternalWorkflowExecutionCancelRequested`), both in one transaction; or, with no open target, the
sender gets `SignalExternalWorkflowExecutionFailed` (or `RequestCancelExternalWorkflowExecutionFailed`).

A crash between the two steps leaves the `...Initiated` event without an outcome: the sender's
`RunState.externals` lists it, and recovery delivers it again. The target's event carries the
request id `<sender run id>:<initiated event id>`, so a request that did reach its target is never
delivered twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wfkit._engine._ledger import LiveRun, RunLedger
from wfkit._engine._writer import Writer
from wfkit._faults import fault
from wfkit._history._events import Event, EventType
from wfkit._history._state import EXTERNAL_OUTCOMES

__all__ = ["ExternalRequests", "request_id"]

E = EventType

#: The cause Temporal records when a signal or cancel request finds no open run.
NOT_FOUND = "ExternalWorkflowExecutionNotFound"


def request_id(sender_run_id: str, initiated_event_id: int) -> str:
    """The id a delivered request carries in the target's history (what makes redelivery a no-op)."""
    return f"{sender_run_id}:{initiated_event_id}"


class ExternalRequests:
    """Delivers the external signals and cancel requests runs initiate, after commit and after a restart."""

    def __init__(self, ledger: RunLedger, writer: Writer) -> None:
        self._ledger = ledger
        self._writer = writer

    def initiated(self, sender: LiveRun, initiated: Event) -> None:
        """The sender recorded `initiated`: deliver it once that is durable."""
        self._writer.after_commit(sender, lambda: self.deliver(sender, initiated))

    def redeliver(self, runs: Iterable[LiveRun]) -> None:
        """Deliver what these (reloaded) runs initiated and never saw delivered; call once every open run is loaded."""
        for sender in runs:
            for pending in sorted(sender.state.externals.values(), key=lambda p: p.seq):
                self.deliver(sender, pending.initiated, recovering=True)

    def deliver(self, sender: LiveRun, initiated: Event, *, recovering: bool = False) -> None:
        """Carry out one request: the target's event, then the sender's outcome.

        `recovering`: the request may have reached its target before a restart; the target's history
        is searched for its request id first (only then: a live delivery happens once, after commit).
        A sender that closed in the same workflow task (it did not wait for the delivery) still sends;
        its history, closed, gets no outcome.
        """
        if self._ledger.shutting_down:
            return  # the sender's history keeps the request open: the next Engine.open delivers it
        fault("external_delivery")
        attrs = initiated.attributes
        target = self._target(str(attrs.get("workflow_id") or ""), attrs.get("run_id"))
        if target is not None and not (recovering and self._has_request(target.events, sender, initiated)):
            self._to_target(sender, initiated, target)
        if sender.state.closed or not self._ledger.is_live(sender):
            return
        reached = target is not None or (recovering and self._reached_closed_run(sender, initiated))
        self._record_outcome(sender, initiated, target, reached)

    def _record_outcome(self, sender: LiveRun, initiated: Event, target: LiveRun | None, reached: bool) -> None:
        """`ExternalWorkflowExecutionSignaled` / `CancelRequested` if the request `reached` its target, else its `...Failed`."""
        attrs = initiated.attributes
        delivered, failed = EXTERNAL_OUTCOMES[initiated.event_type]
        outcome: dict[str, Any] = {
            "external_id": attrs.get("external_id"),
            "initiated_event_id": initiated.event_id,
            "workflow_id": attrs.get("workflow_id"),
            "run_id": target.run_id if target is not None else attrs.get("run_id"),
        }
        if reached:
            self._writer.record(sender, delivered, outcome)
        else:
            self._writer.record(sender, failed, {**outcome, "cause": NOT_FOUND})
        self._ledger.mark_dirty(sender)

    @staticmethod
    def _has_request(events: Iterable[Event], sender: LiveRun, initiated: Event) -> bool:
        rid = request_id(sender.run_id, initiated.event_id)
        return any(event.attributes.get("request_id") == rid for event in events)

    def _target(self, workflow_id: str, run_id: str | None) -> LiveRun | None:
        target = self._ledger.by_workflow_id.get(workflow_id)
        if target is None or target.state.closed or (run_id and target.run_id != run_id):
            return None
        return target

    def _reached_closed_run(self, sender: LiveRun, initiated: Event) -> bool:
        """After a restart: did the request reach a run of the target that has closed since (read from the store)?"""
        attrs = initiated.attributes
        row = self._writer.store.latest_run(str(attrs.get("workflow_id") or "")) if not attrs.get("run_id") else {"run_id": attrs["run_id"]}
        return row is not None and self._has_request(self._writer.store.load_events(str(row["run_id"])), sender, initiated)

    def _to_target(self, sender: LiveRun, initiated: Event, target: LiveRun) -> None:
        """The target's `WorkflowExecutionSignaled` / `WorkflowExecutionCancelRequested`, naming the sender."""
        rid = request_id(sender.run_id, initiated.event_id)
        attrs = initiated.attributes
        sender_info = {"external_workflow_id": sender.workflow_id, "external_run_id": sender.run_id, "external_initiated_event_id": initiated.event_id}
        if initiated.event_type is E.SignalExternalWorkflowExecutionInitiated:
            payloads = attrs.get("input") or []
            signal = {"signal_name": attrs.get("signal_name"), "input": payloads[0] if payloads else None}
            self._writer.record(target, E.WorkflowExecutionSignaled, {**signal, **sender_info, "request_id": rid})
        else:
            reason = str(attrs.get("reason") or f"requested by workflow {sender.workflow_id}")
            self._writer.record(target, E.WorkflowExecutionCancelRequested, {"reason": reason, **sender_info, "request_id": rid})
        self._ledger.mark_dirty(target)
