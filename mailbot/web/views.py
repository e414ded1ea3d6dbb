"""HTTP views: thin wrappers that read the request, call casework, and render or redirect."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from mailbot.cases import assignment, wording
from mailbot.cases import casework as cw
from mailbot.cases.decisions import change_status_and_tell
from mailbot.cases.feedback import export_jsonl
from mailbot.cases.queries import distinct_values
from mailbot.cases.sync import SyncRetryError, failed_syncs, retry_sync
from mailbot.cases.sync import links as remote_links
from mailbot.db.models import Attachment, Case, CaseEvent, Message, MessageState, Outbox
from mailbot.db.types import utcnow
from mailbot.db.web_models import User
from mailbot.mail.html import sanitize_html
from mailbot.web.accounts import audit
from mailbot.web.auth import action, page
from mailbot.web.context import Web, flash, form_text, render
from mailbot.web.highlight import highlight
from mailbot.web.reply import outgoing_text, queue_reply

# Shown as themselves; anything else is downloaded as bytes (never rendered as HTML/SVG).
INLINE_SAFE = {
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
}


def _web(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def _case_or_404(session: Session, user: User, request: Request) -> Case:
    case = cw.find_case(session, user, str(request.path_params["reference"]))
    if case is None:  # also for confidential cases: do not confirm they exist
        raise HTTPException(404, "no such case")
    return case


def _back(request: Request, default: str) -> RedirectResponse:
    return RedirectResponse(default, status_code=303)


# ---------------------------------------------------------------------------------- triage


@page()
def triage_page(request: Request, session: Session, user: User) -> Response:
    items = cw.triage_queue(session, user)
    return render(
        request,
        "triage.html",
        user,
        nav="triage",
        items=items,
        held=cw.held_messages(session),
        possible=cw.possible_matches(session, user),
        labels=cw.label_names(_web(request).config.policy),
        highlight=highlight,
        staff=assignment.staff(session),
        rechecking=cw.rechecking_count(session),
    )


@action()
def triage_label(request: Request, session: Session, user: User, form: FormData) -> Response:
    case = _case_or_404(session, user, request)
    policy = _web(request).config.policy
    try:
        cw.triage(
            session,
            case,
            user,
            form_text(form, "label"),
            form.get("confidential") == "1",
            policy=policy,
            connectors=_web(request).config.connectors,
        )
    except cw.CaseworkError as exc:
        flash(request, str(exc), "error")
    else:
        name = cw.label_names(policy)[case.label]
        flash(request, f"{case.reference} marked as {name.lower()}")
    return _back(request, "/triage")


@action()
def triage_attach(request: Request, session: Session, user: User, form: FormData) -> Response:
    case = _case_or_404(session, user, request)
    target = cw.find_case(session, user, form_text(form, "target", 40))
    if target is None:
        flash(request, "no case with that reference", "error")
        return _back(request, "/triage")
    try:
        cw.attach(session, case, target, user)
    except cw.CaseworkError as exc:
        flash(request, str(exc), "error")
    else:
        flash(request, f"{case.reference} attached to {target.reference}")
    return _back(request, "/triage")


@action()
def split_case(request: Request, session: Session, user: User, form: FormData) -> Response:
    case = _case_or_404(session, user, request)
    year = cw.case_year(_web(request).config.organisation.timezone, utcnow())
    child = cw.split(session, case, user, form_text(form, "subject"), year)
    flash(request, f"Child case {child.reference} opened from {case.reference}")
    return _back(request, f"/cases/{child.reference}")


@action()
def retry_held(request: Request, session: Session, user: User, form: FormData) -> Response:
    try:
        message = cw.retry_held(session, int(request.path_params["message_id"]))
    except cw.CaseworkError as exc:
        raise HTTPException(404, str(exc)) from None
    audit(session, user.username, "retry_held_message", str(message.id))
    flash(request, f"Message {message.id} will be processed again by the worker")
    return _back(request, "/triage")


def _possible_match(session: Session, request: Request) -> Message:
    message = session.get(Message, int(request.path_params["message_id"]))
    if message is None or message.state != MessageState.POSSIBLE_MATCH:
        raise HTTPException(404, "no such possible match")
    return message


@action()
def possible_attach(request: Request, session: Session, user: User, form: FormData) -> Response:
    message = _possible_match(session, request)
    case = cw.find_case(session, user, form_text(form, "reference", 40).upper())
    if case is None:
        raise HTTPException(404, "no such case")
    cw.confirm_match(session, message, case, user)
    audit(session, user.username, "possible_match_attached", case.reference, message=message.id)
    flash(request, f"Message {message.id} added to {case.reference}")
    return _back(request, "/triage")


@action()
def possible_new(request: Request, session: Session, user: User, form: FormData) -> Response:
    message = _possible_match(session, request)
    cw.open_as_new_case(message)
    audit(session, user.username, "possible_match_new_case", str(message.id))
    flash(request, f"Message {message.id} will open a new case on the worker's next round")
    return _back(request, "/triage")


@page(role="manager")
def feedback_export(request: Request, session: Session, user: User) -> Response:
    lines = [line + "\n" for line in export_jsonl(session)]
    audit(session, user.username, "feedback_exported", count=len(lines))
    return StreamingResponse(
        iter(lines),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="triage-feedback.jsonl"'},
    )


# ---------------------------------------------------------------------------------- cases


@page()
def cases_page(request: Request, session: Session, user: User) -> Response:
    web = _web(request)
    policy = web.config.policy
    filters = cw.CaseFilters.from_query(request.query_params)
    if filters.confidential and not user.at_least("manager"):
        raise HTTPException(403, "confidential cases need the manager role")
    mailboxes = [m.name for m in web.config.mailboxes]
    # Cases from a mailbox since removed from the config can still be found.
    mailboxes += sorted(set(distinct_values(session, "cases", "mailbox")) - set(mailboxes))
    allowed = {
        "status": list(cw.STATUSES),
        "stage": list(cw.STAGES),
        "priority": cw.priorities(policy),
        "label": list(cw.LABELS),
        "mailbox": mailboxes,
    }
    problems = filters.problems(allowed)
    for line in problems.values():
        flash(request, f"Filter {line}; that filter is ignored", "error")
    filters = filters.without(problems)
    now = utcnow()
    found = cw.search_cases(
        session,
        user,
        filters,
        now,
        page=cw.page_number(request.query_params.get("page")),
        calendar=policy.working_calendar(),
    )
    rows = found.cases
    managers = sorted({m for m in distinct_values(session, "cases", "referral_manager") if m})
    return render(
        request,
        "cases.html",
        user,
        nav="cases",
        cases=rows,
        found=found,
        page_link=_page_link(request),
        filters=filters,
        days_left={c.id: _days_left(web, c, now) for c in rows},
        procedure={c.id: _procedure(web, c) for c in rows},
        statuses=cw.STATUSES,
        stages=cw.stages(policy),
        priorities=cw.priorities(policy),
        mailboxes=mailboxes,
        managers=managers,
        labels=cw.label_names(policy),
        status_code=400 if problems else 200,
        owners=assignment.owners(session, rows),
        staff=assignment.staff(session),
        here=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
    )


def _page_link(request: Request) -> Callable[[int], str]:
    """The case list's URL for another page, keeping the filters."""

    def link(page: int) -> str:
        params = {k: v for k, v in request.query_params.items() if k != "page"}
        return "/cases?" + urlencode({**params, "page": page})

    return link


def _procedure(web: Web, case: Case) -> bool:
    """Whether the policy runs its staged procedure (priority, stage, deadlines) for the case."""
    return cw.handling(web.config.policy, case).procedure


def _days_left(web: Web, case: Case, now: datetime) -> int | None:
    """Working days to the due date; None when there is none to show: closed, or a category
    the policy sets no deadline for (a compliment, an enquiry), whatever an older due_at says."""
    if case.status == "closed" or not _procedure(web, case):
        return None
    return cw.working_days_left(case.due_at, now, web.config.policy.working_calendar())


def _shown_as_card(event: CaseEvent) -> bool:
    """Events the timeline shows as the email itself (in or out), not as a line of their own."""
    kind = event.kind
    if event.message_id and (kind == "message_received" or kind.endswith("_received")):
        return True
    return bool(event.outbox_id) and kind.endswith(("_queued", "_sent"))


def _timeline(web: Web, session: Session, case: Case) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    boxes = {m.name: m.address for m in web.config.mailboxes}
    messages = list(
        session.scalars(select(Message).where(Message.case_id == case.id).order_by(Message.id))
    )
    # A copy of one email received in a second mailbox is shown once, on the original.
    ids = {m.id for m in messages}
    copies = [m for m in messages if m.state == MessageState.DUPLICATE and m.duplicate_of_id in ids]
    also: dict[int, list[str]] = {}
    for m in copies:
        also.setdefault(m.duplicate_of_id or 0, []).append(
            wording.mailbox_address(m.mailbox, boxes)
        )
    copy_ids = {m.id for m in copies}
    first_id = messages[0].id if messages else None
    for m in messages:
        if m.id in copy_ids:
            continue
        text = m.new_text or m.text_body
        items.append(
            {
                "type": "in",
                "at": m.sent_date or m.stored_at,
                "message": m,
                "received_at": wording.mailbox_address(m.mailbox, boxes),
                "also_at": also.get(m.id, []),
                "body": highlight(text, case.reasons) if m.id == first_id else text,
                "html": sanitize_html(m.html_sanitised) if m.html_sanitised else "",
                "attachments": list(
                    session.scalars(select(Attachment).where(Attachment.message_id == m.id))
                ),
            }
        )
    for o in session.scalars(select(Outbox).where(Outbox.case_id == case.id).order_by(Outbox.id)):
        items.append(
            {
                "type": "out",
                "at": o.created_at,
                "item": o,
                "title": wording.letter_name(o.kind),
                "to_customer": bool(case.customer_address)
                and o.to_addr.lower() == case.customer_address.lower(),
                "body": outgoing_text(o.raw),
            }
        )
    events = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
    )
    for e in events:
        if _shown_as_card(e) or (e.kind == "copy_received" and e.message_id in copy_ids):
            continue
        items.append(
            {
                "type": "note" if e.kind == "note" else "event",
                "at": e.at,
                "event": e,
                "title": wording.describe_event(e.kind, e.detail, e.actor, boxes),
            }
        )
    items.sort(key=lambda i: i["at"])
    return items


@page()
def case_page(request: Request, session: Session, user: User) -> Response:
    web = _web(request)
    case = _case_or_404(session, user, request)
    now = utcnow()
    children = list(session.scalars(select(Case).where(Case.parent_id == case.id)))
    return render(
        request,
        "case.html",
        user,
        nav="cases",
        case=case,
        handling=cw.handling(web.config.policy, case),
        log_fields=web.config.policy.log_fields,
        answers=cw.log_answers(session, case),
        timeline=_timeline(web, session, case),
        days_left=_days_left(web, case, now),
        statuses=cw.STATUSES,
        stages=cw.stages(web.config.policy),
        priorities=cw.priorities(web.config.policy),
        labels=cw.label_names(web.config.policy),
        children=children,
        reply_token=secrets.token_urlsafe(16),
        undeliverable=cw.undeliverable(session, case),
        remote_tickets=remote_links(session, case),
        failed_syncs=failed_syncs(session, case),
        owner=assignment.owners(session, [case]).get(case.id),
        staff=assignment.staff(session),
    )


def _case_action(request: Request, case: Case, work: Any) -> Response:
    try:
        work()
    except cw.CaseworkError as exc:
        flash(request, str(exc), "error")
    return _back(request, f"/cases/{case.reference}")


@action()
def case_details(request: Request, session: Session, user: User, form: FormData) -> Response:
    case = _case_or_404(session, user, request)
    policy = _web(request).config.policy
    fields = (*cw.CASE_FIELDS, "priority", *policy.log_fields)
    values = {name: form_text(form, name) for name in fields if name in form}

    def work() -> None:
        connectors = _web(request).config.connectors
        if cw.update_details(session, case, user, values, policy=policy, connectors=connectors):
            flash(request, "Case details saved")

    return _case_action(request, case, work)


@action()
def case_status(request: Request, session: Session, user: User, form: FormData) -> Response:
    case = _case_or_404(session, user, request)
    web: Web = request.app.state.web

    def work() -> None:
        # The customer is told a new outcome, and their appeal rights, in writing.
        change_status_and_tell(
            session,
            web.config,
            web.letters,
            case,
            user,
            form_text(form, "status", 40),
            form_text(form, "stage", 40),
            form_text(form, "outcome", 20000),
            utcnow(),
        )
        flash(request, f"{case.reference}: {wording.status_word(case.status)}, stage {case.stage}")

    return _case_action(request, case, work)


@action(role="manager")
def case_confidential(request: Request, session: Session, user: User, form: FormData) -> Response:
    case = _case_or_404(session, user, request)
    cw.set_confidential(session, case, user, form.get("confidential") == "1")
    return _back(request, f"/cases/{case.reference}")


@action(role="manager")
def case_sync_retry(request: Request, session: Session, user: User, form: FormData) -> Response:
    case = _case_or_404(session, user, request)
    try:
        retry_sync(session, case, user.username, form_text(form, "sync", 20))
        flash(request, "The update will be sent again at the next worker pass")
    except SyncRetryError as exc:
        flash(request, str(exc), "error")
    return _back(request, f"/cases/{case.reference}")


@action(role="manager")
def case_deliverable(request: Request, session: Session, user: User, form: FormData) -> Response:
    case = _case_or_404(session, user, request)
    cw.clear_undeliverable(session, case, user)
    flash(request, f"{case.customer_address}: automatic mail will be sent again")
    return _back(request, f"/cases/{case.reference}")


@action()
def case_note(request: Request, session: Session, user: User, form: FormData) -> Response:
    case = _case_or_404(session, user, request)

    def work() -> None:
        cw.add_note(session, case, user, form_text(form, "text", 20000))
        flash(request, "Note added")

    return _case_action(request, case, work)


@action()
def case_reply(request: Request, session: Session, user: User, form: FormData) -> Response:
    case = _case_or_404(session, user, request)

    def work() -> None:
        queue_reply(
            session,
            _web(request).config,
            case,
            user,
            form_text(form, "body", 50000),
            form_text(form, "token", 64) or secrets.token_urlsafe(16),
            utcnow(),
        )
        flash(request, f"Reply to {case.customer_address} queued for sending")

    return _case_action(request, case, work)


@page()
def attachment(request: Request, session: Session, user: User) -> Response:
    item = session.get(Attachment, int(request.path_params["attachment_id"]))
    message = session.get(Message, item.message_id) if item else None
    case = session.get(Case, message.case_id) if message and message.case_id else None
    visible = case is not None and (not case.confidential or user.at_least("manager"))
    if item is None or not visible:
        raise HTTPException(404, "no such attachment")
    kind = item.content_type.lower().split(";")[0].strip()
    media = kind if kind in INLINE_SAFE else "application/octet-stream"
    name = "".join(c for c in item.filename if c.isalnum() or c in "._- ") or "attachment"
    return Response(
        item.content,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Security-Policy": "sandbox; default-src 'none'; frame-ancestors 'none'",
        },
    )
