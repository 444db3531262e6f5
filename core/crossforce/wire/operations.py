"""Operations service messages: the operator's report."""

from __future__ import annotations

from crossforce.domain import Alert, OperatorReport, ReliabilityRow
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.wire.index import index_status_to_pb, index_statuses_from_pb


def report_request() -> pb.ReportRequest:
    return pb.ReportRequest()


def alert_to_pb(a: Alert) -> pb.Alert:
    return pb.Alert(at_ms=a.at_ms, org=a.org, kind=a.kind, detail=a.detail)


def alert_from_pb(msg: pb.Alert) -> Alert:
    return Alert(at_ms=msg.at_ms, org=msg.org, kind=msg.kind, detail=msg.detail)


def operator_report_to_pb(report: OperatorReport) -> pb.ReportResponse:
    return pb.ReportResponse(
        alerts=[alert_to_pb(a) for a in report.alerts],
        overdue_requests=report.overdue_requests,
        log_size=report.log_size,
        indexes=[index_status_to_pb(s) for s in report.indexes],
        reliability=[
            pb.ReliabilityRow(
                low=r.low,
                high=r.high,
                n=r.n,
                mean_stated=r.mean_stated,
                observed_precision=r.observed_precision,
            )
            for r in report.reliability
        ],
    )


def operator_report_from_pb(msg: pb.ReportResponse) -> OperatorReport:
    return OperatorReport(
        alerts=tuple(alert_from_pb(a) for a in msg.alerts),
        overdue_requests=msg.overdue_requests,
        log_size=msg.log_size,
        indexes=index_statuses_from_pb(msg.indexes),
        reliability=tuple(
            ReliabilityRow(
                low=r.low,
                high=r.high,
                n=r.n,
                mean_stated=r.mean_stated,
                observed_precision=r.observed_precision,
            )
            for r in msg.reliability
        ),
    )
