"""How the client book looks: the card, list pages, filter and grade menus, and their buttons.

Everything here is pure: it turns clients read from storage into text and buttons in the
agent's language and time zone, and owns the callback codecs of the client book (all of
them start with ``c``). The handlers in :mod:`bot.handlers.clients` send what it renders.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Final
from zoneinfo import ZoneInfo

from bot import links
from bot.callbacks import CallbackError, Codec
from bot.context import Buttons
from bot.i18n import t
from bot.parsing import format_date, format_money, format_phone, mask_phone
from storage.choices import GRADE_AXES, GRADES, SOURCES
from storage.clients import ClientDetails, ClientFilter, ClientPage
from storage.models import Client, Interaction, Policy

# A card button other than logging a contact: "grade", "follow", "edit", "delete".
CARD_ACTION = Codec("ca", client_id=int, action=str)
# Grade menu: ``grade`` is "-" to choose a grade on ``axis``, "0" to clear it, A–D to set
# it, or "*" to go back to the overview of all three axes.
GRADE = Codec("cg", client_id=int, axis=str, grade=str)
# Delete confirmation: ``answer`` is "yes" or "no".
DELETE = Codec("cd", client_id=int, answer=str)
# A page of a filtered list; the filter is written by :func:`filter_code`.
LIST_PAGE = Codec("cn", filter=str, page=int)
# The filter menus: "root", "grade", "source", or "g.<axis>" for the grades of one axis.
LIST_FILTER = Codec("cf", menu=str)

CARD_ACTIONS: Final = ("grade", "follow", "edit", "delete")
GRADE_CHOOSE: Final = "-"
GRADE_CLEAR: Final = "0"
GRADE_OVERVIEW: Final = "*"
PAGE_SIZE: Final = 10
# Long notes are cut on the card so that one client fits in one message.
NOTE_PREVIEW: Final = 120


# --- filters as callback text ---------------------------------------------------------------


def filter_code(flt: ClientFilter) -> str:
    """Write a filter as the short text carried in list buttons (``g.timing.A``, ``s.warm``)."""
    if flt.kind == "grade":
        return f"g.{flt.axis}.{flt.value}"
    if flt.kind == "source":
        return f"s.{flt.value}"
    return flt.kind


def parse_filter(code: str) -> ClientFilter:
    """Read a filter written by :func:`filter_code`; raise CallbackError for anything else."""
    parts = code.split(".")
    if parts[0] == "g" and len(parts) == 3:
        flt = ClientFilter("grade", parts[1], parts[2])
    elif parts[0] == "s" and len(parts) == 2:
        flt = ClientFilter("source", value=parts[1])
    elif len(parts) == 1:
        flt = ClientFilter(parts[0])
    else:
        raise CallbackError(f"unknown list filter {code!r}")
    if not flt.is_valid():
        raise CallbackError(f"unknown list filter {code!r}")
    return flt


def filter_label(flt: ClientFilter, lang: str) -> str:
    """Name a filter for the list's title."""
    if flt.kind == "grade":
        axis = t(lang, f"choices.axis.{flt.axis}")
        return t(lang, "clients.list.filter_grade", axis=axis, grade=flt.value)
    if flt.kind == "source":
        return t(lang, f"choices.source.{flt.value}")
    return t(lang, f"clients.list.filter_{flt.kind}")


# --- small pieces ---------------------------------------------------------------------------


def local_moment(moment: datetime, zone: str) -> datetime:
    """Return a stored UTC moment in the agent's time zone."""
    return moment.astimezone(ZoneInfo(zone))


def grades_short(client: Client) -> str:
    """Write the three grades compactly, in axis order: ``A/B/-``."""
    return "/".join(getattr(client, f"grade_{axis}") or "-" for axis in GRADE_AXES)


def client_line(client: Client, lang: str) -> str:
    """Describe a client in one line for lists, with the phone masked."""
    parts = [client.name]
    if client.phone:
        parts.append(mask_phone(client.phone))
    parts.append(t(lang, f"choices.source.{client.source}"))
    parts.append(grades_short(client))
    return " · ".join(parts)


def pick_label(client: Client) -> str:
    """Label a button that picks a client: the name, and the masked phone for namesakes."""
    if client.phone:
        return f"{client.name} · {mask_phone(client.phone)}"
    return client.name


def source_text(client: Client, lang: str, referrer: Client | None = None) -> str:
    """Describe where a client came from, with the warm category or the referrer."""
    text = t(lang, f"choices.source.{client.source}")
    if client.source == "warm" and client.warm_category:
        text += " · " + t(lang, f"choices.warm.{client.warm_category}")
    if client.source == "referral" and referrer is not None:
        text += " · " + t(lang, "clients.card.referred_by", name=referrer.name)
    if client.source_detail:
        text += " · " + client.source_detail
    return text


def _days_ago(then: date, today: date, lang: str) -> str:
    days = (today - then).days
    if days <= 0:
        return t(lang, "clients.card.today")
    return t(lang, "clients.card.days_ago", days=days)


def _cut(text: str, limit: int = NOTE_PREVIEW) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --- the card -------------------------------------------------------------------------------


def card_text(details: ClientDetails, lang: str, zone: str, today: date) -> str:
    """Render a client's card: every field, grades with meanings, contacts and policies."""
    client = details.client
    if client.honorific:
        title = t(
            lang, "clients.card.title_honorific", name=client.name, honorific=client.honorific
        )
    else:
        title = t(lang, "clients.card.title", name=client.name)
    lines = [title]
    phones = [format_phone(p) for p in (client.phone, client.phone2) if p]
    lines.append(
        t(lang, "clients.card.phone", phone=" / ".join(phones))
        if phones
        else t(lang, "clients.card.no_phone")
    )
    if client.address:
        lines.append(t(lang, "clients.card.address", address=client.address))
    lines.append(
        t(lang, "clients.card.source", source=source_text(client, lang, details.referrer))
    )
    if client.relation:
        lines.append(t(lang, "clients.card.relation", relation=client.relation))
    lines.extend(_referral_lines(client, lang))
    segment = [
        t(lang, f"choices.{group}.{code}")
        for group, code in (("region", client.region), ("trait", client.trait))
        if code
    ]
    if segment:
        lines.append(t(lang, "clients.card.segment", segment=" · ".join(segment)))

    lines += ["", t(lang, "clients.card.grades")]
    for axis in GRADE_AXES:
        grade = getattr(client, f"grade_{axis}")
        meaning = (
            t(lang, f"choices.grade.{axis}.{grade}") if grade else t(lang, "clients.card.ungraded")
        )
        line = t(
            lang, "clients.card.grade_line", axis=t(lang, f"choices.axis.{axis}"), meaning=meaning
        )
        changed = details.graded_at.get(axis)
        if grade and changed is not None:
            day = local_moment(changed, zone).date()
            line += t(lang, "clients.card.graded_on", date=format_date(day, lang))
        lines.append(line)

    lines.append("")
    if client.last_contact_at is not None:
        moment = local_moment(client.last_contact_at, zone)
        lines.append(
            t(
                lang,
                "clients.card.last_contact",
                date=format_date(moment.date(), lang),
                time=moment.strftime("%H:%M"),
                ago=_days_ago(moment.date(), today, lang),
            )
        )
    else:
        lines.append(t(lang, "clients.card.never_contacted"))
    if client.next_followup is not None:
        key = (
            "clients.card.followup_due"
            if client.next_followup <= today
            else "clients.card.followup"
        )
        lines.append(t(lang, key, date=format_date(client.next_followup, lang)))
    else:
        lines.append(t(lang, "clients.card.no_followup"))

    if details.referrals:
        names = t(lang, "clients.card.name_separator").join(c.name for c in details.referrals)
        if details.referral_count > len(details.referrals):
            names += t(lang, "clients.card.and_more", count=details.referral_count)
        lines.append(t(lang, "clients.card.referred", count=details.referral_count, names=names))

    lines += ["", _contacts_block(details, lang, zone)]
    if details.policies:
        lines += ["", _policies_block(details, lang)]
    if client.notes:
        lines += ["", t(lang, "clients.card.notes", notes=client.notes)]
    return "\n".join(lines)


def _referral_lines(client: Client, lang: str) -> list[str]:
    """Describe how a referred prospect may be approached, when the referral recorded it."""
    parts = []
    if client.referral_scope:
        parts.append(t(lang, f"choices.scope.{client.referral_scope}"))
    if client.referral_permission:
        parts.append(t(lang, f"choices.permission.{client.referral_permission}"))
    if client.referral_approach:
        parts.append(t(lang, f"choices.approach.{client.referral_approach}"))
    if client.referral_channel:
        parts.append(t(lang, f"choices.channel.{client.referral_channel}"))
    return [t(lang, "clients.card.referral", details=" · ".join(parts))] if parts else []


def _contacts_block(details: ClientDetails, lang: str, zone: str) -> str:
    if not details.interactions:
        return t(lang, "clients.card.no_contacts")
    lines = [
        t(
            lang,
            "clients.card.contacts",
            shown=len(details.interactions),
            total=details.interaction_count,
        )
    ]
    lines += [contact_line(item, lang, zone) for item in details.interactions]
    return "\n".join(lines)


def contact_line(item: Interaction, lang: str, zone: str) -> str:
    """Describe one logged contact: when, through which channel, what happened."""
    day = local_moment(item.at, zone).date()
    return t(
        lang,
        "clients.card.contact_line",
        date=format_date(day, lang),
        channel=t(lang, f"choices.channel.{item.channel}"),
        note=_cut(item.note or ""),
    )


def _policies_block(details: ClientDetails, lang: str) -> str:
    lines = [t(lang, "clients.card.policies", count=details.policy_count)]
    lines += [policy_line(policy, lang) for policy in details.policies]
    if details.policy_count > len(details.policies):
        lines.append(t(lang, "clients.card.more_policies", count=details.policy_count))
    return "\n".join(lines)


def policy_line(policy: Policy, lang: str) -> str:
    """Describe one policy on a card: number, product, amounts, maturity and status."""
    parts = [policy.policy_number]
    if policy.product:
        parts.append(policy.product)
    if policy.premium is not None:
        parts.append(t(lang, "clients.card.premium", amount=format_money(policy.premium, lang)))
    if policy.sum_insured is not None:
        amount = format_money(policy.sum_insured, lang)
        parts.append(t(lang, "clients.card.sum_insured", amount=amount))
    if policy.maturity_date is not None:
        day = format_date(policy.maturity_date, lang)
        parts.append(t(lang, "clients.card.matures", date=day))
    parts.append(t(lang, f"clients.policy_status.{policy.status}"))
    return "· " + " · ".join(parts)


def card_buttons(details: ClientDetails, lang: str) -> Buttons:
    """Return the card's buttons: log, grade, follow-up, talk track, edit, delete."""
    client_id = details.client.id
    rows = [
        [
            (t(lang, "clients.button.log"), links.LOG_CONTACT.build(client_id=client_id)),
            (
                t(lang, "clients.button.grade"),
                CARD_ACTION.build(client_id=client_id, action="grade"),
            ),
        ],
        [
            (
                t(lang, "clients.button.follow"),
                CARD_ACTION.build(client_id=client_id, action="follow"),
            ),
            (t(lang, "clients.button.script"), links.SCRIPT_FOR_CLIENT.build(client_id=client_id)),
        ],
        [
            (
                t(lang, "clients.button.edit"),
                CARD_ACTION.build(client_id=client_id, action="edit"),
            ),
            (
                t(lang, "clients.button.delete"),
                CARD_ACTION.build(client_id=client_id, action="delete"),
            ),
        ],
    ]
    if details.referrer is not None:
        label = t(lang, "clients.button.referrer", name=details.referrer.name)
        rows.append([(label, links.CLIENT_CARD.build(client_id=details.referrer.id))])
    if details.referrer is not None or details.referral_count:
        tree = (t(lang, "clients.button.tree"), links.REFERRAL_TREE.build(client_id=client_id))
        rows.append([tree])
    return rows


def open_card_button(client: Client, lang: str) -> tuple[str, str]:
    """Return the button that opens a client's card."""
    label = t(lang, "clients.button.open_card", name=client.name)
    return label, links.CLIENT_CARD.build(client_id=client.id)


# --- lists ----------------------------------------------------------------------------------


def client_buttons(clients: Sequence[Client], *, first: int = 1) -> list[list[tuple[str, str]]]:
    """Return numbered buttons that open each client's card, two to a row."""
    buttons = [
        (f"{number}. {client.name}", links.CLIENT_CARD.build(client_id=client.id))
        for number, client in enumerate(clients, start=first)
    ]
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def list_text(page: ClientPage, flt: ClientFilter, page_no: int, lang: str, zone: str) -> str:
    """Render one page of a client list with a title that names the filter and the page."""
    pages = max(1, -(-page.total // PAGE_SIZE))
    lines = [
        t(
            lang,
            "clients.list.title",
            filter=filter_label(flt, lang),
            total=page.total,
            page=page_no + 1,
            pages=pages,
        ),
        t(lang, "clients.list.legend"),
        "",
    ]
    first = page_no * PAGE_SIZE + 1
    for number, client in enumerate(page.clients, start=first):
        line = f"{number}. {client_line(client, lang)}"
        if flt.kind == "due" and client.next_followup is not None:
            line += t(lang, "clients.list.due_on", date=format_date(client.next_followup, lang))
        elif flt.kind == "stale":
            if client.last_contact_at is not None:
                day = local_moment(client.last_contact_at, zone).date()
                line += t(lang, "clients.list.last_contact", date=format_date(day, lang))
            else:
                line += t(lang, "clients.list.never_contacted")
        lines.append(line)
    return "\n".join(lines)


def list_buttons(page: ClientPage, flt: ClientFilter, page_no: int, lang: str) -> Buttons:
    """Return a list page's buttons: one per client, previous/next, and the filter menu."""
    rows = client_buttons(page.clients, first=page_no * PAGE_SIZE + 1)
    code = filter_code(flt)
    nav = []
    if page_no > 0:
        nav.append(
            (t(lang, "clients.list.previous"), LIST_PAGE.build(filter=code, page=page_no - 1))
        )
    if (page_no + 1) * PAGE_SIZE < page.total:
        nav.append((t(lang, "clients.list.next"), LIST_PAGE.build(filter=code, page=page_no + 1)))
    if nav:
        rows.append(nav)
    rows.append([(t(lang, "clients.list.filter_button"), LIST_FILTER.build(menu="root"))])
    return rows


def filter_menu(menu: str, lang: str) -> tuple[str, Buttons] | None:
    """Return the text and buttons of a filter menu, or None for an unknown menu."""
    back = [(t(lang, "clients.list.menu_back"), LIST_FILTER.build(menu="root"))]
    if menu == "root":
        page = LIST_PAGE.build
        rows = [
            [
                (t(lang, "clients.list.by_grade"), LIST_FILTER.build(menu="grade")),
                (t(lang, "clients.list.by_source"), LIST_FILTER.build(menu="source")),
            ],
            [
                (t(lang, "clients.list.filter_due"), page(filter="due", page=0)),
                (t(lang, "clients.list.filter_stale"), page(filter="stale", page=0)),
            ],
            [(t(lang, "clients.list.filter_all"), page(filter="all", page=0))],
        ]
        return t(lang, "clients.list.menu_root"), rows
    if menu == "grade":
        rows = [
            [(t(lang, f"choices.axis.{axis}"), LIST_FILTER.build(menu=f"g.{axis}"))]
            for axis in GRADE_AXES
        ]
        return t(lang, "clients.list.menu_axis"), [*rows, back]
    if menu.startswith("g.") and menu[2:] in GRADE_AXES:
        axis = menu[2:]
        rows = [
            [
                (
                    t(lang, f"choices.grade.{axis}.{grade}"),
                    LIST_PAGE.build(filter=f"g.{axis}.{grade}", page=0),
                )
            ]
            for grade in GRADES
        ]
        title = t(lang, "clients.list.menu_grade", axis=t(lang, f"choices.axis.{axis}"))
        return title, [*rows, back]
    if menu == "source":
        buttons = [
            (t(lang, f"choices.source.{source}"), LIST_PAGE.build(filter=f"s.{source}", page=0))
            for source in SOURCES
        ]
        rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
        return t(lang, "clients.list.menu_source"), [*rows, back]
    return None


# --- grading --------------------------------------------------------------------------------


def grade_menu(client: Client, lang: str, saved: str | None = None) -> tuple[str, Buttons]:
    """Return the grading overview of a client: current grades and one button per axis."""
    lines = [saved, ""] if saved else []
    lines.append(t(lang, "clients.grade.overview", name=client.name))
    for axis in GRADE_AXES:
        grade = getattr(client, f"grade_{axis}")
        meaning = (
            t(lang, f"choices.grade.{axis}.{grade}") if grade else t(lang, "clients.card.ungraded")
        )
        lines.append(
            t(
                lang,
                "clients.card.grade_line",
                axis=t(lang, f"choices.axis.{axis}"),
                meaning=meaning,
            )
        )
    rows = [
        [
            (
                t(lang, f"choices.axis.{axis}"),
                GRADE.build(client_id=client.id, axis=axis, grade=GRADE_CHOOSE),
            )
        ]
        for axis in GRADE_AXES
    ]
    rows.append([open_card_button(client, lang)])
    return "\n".join(lines), rows


def grade_choices(client: Client, axis: str, lang: str) -> tuple[str, Buttons]:
    """Return the grades of one axis as buttons that say what each grade means."""
    text = t(lang, "clients.grade.choose", name=client.name, axis=t(lang, f"choices.axis.{axis}"))
    rows = [
        [
            (
                t(lang, f"choices.grade.{axis}.{grade}"),
                GRADE.build(client_id=client.id, axis=axis, grade=grade),
            )
        ]
        for grade in GRADES
    ]
    if getattr(client, f"grade_{axis}"):
        clear = GRADE.build(client_id=client.id, axis=axis, grade=GRADE_CLEAR)
        rows.append([(t(lang, "clients.grade.clear"), clear)])
    back = GRADE.build(client_id=client.id, axis=axis, grade=GRADE_OVERVIEW)
    rows.append([(t(lang, "clients.grade.back"), back)])
    return text, rows
