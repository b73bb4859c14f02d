"""The client book: /add, /find, /list, /client, /log, /forget_me and the client card.

Commands and card buttons are handled here. The guided conversations they start live in
:mod:`~bot.handlers.clients_add`, :mod:`~bot.handlers.clients_log`,
:mod:`~bot.handlers.clients_edit` and :mod:`~bot.handlers.clients_flows`; what the book
looks like, and its callback codecs, in :mod:`~bot.handlers.clients_views`. Every button
carries ids only, and every id is looked up again scoped to the agent who pressed it: a
client of another agent, or one that no longer exists, gets the same refusal, which names
nothing.

A contact shared from the phone's address book when no conversation is open starts /add
with the name and phone filled in.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from telegram import Message, Update
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot import flows, links
from bot.callbacks import CallbackError, Codec
from bot.context import BotContext, Buttons, keyboard
from bot.flows import Flow
from bot.handlers import clients_views as views
from bot.handlers.clients_add import AddClientFlow
from bot.handlers.clients_edit import EditClientFlow
from bot.handlers.clients_flows import (
    FIND_LIMIT,
    FindFlow,
    ForgetMeFlow,
    card_message,
    exact_match,
    found_message,
)
from bot.handlers.clients_log import FollowupFlow, LogContactFlow
from storage import clients as store
from storage import conversations
from storage.choices import GRADE_AXES, GRADES
from storage.clients import ClientFilter, Horizon
from storage.models import Client

logger = logging.getLogger(__name__)


# --- commands -------------------------------------------------------------------------------


def _argument(context: BotContext) -> str:
    """Return the text typed after the command."""
    return " ".join(context.args or []).strip()


async def add_command(update: Update, context: BotContext) -> None:
    """Start /add; a name typed after the command begins a new draft with it."""
    argument = _argument(context)
    if argument:
        await _start_new(update, context, AddClientFlow.name, argument=argument)
    else:
        await flows.start(update, context, AddClientFlow.name)


async def log_command(update: Update, context: BotContext) -> None:
    """Start /log; a name typed after the command picks the client straight away."""
    argument = _argument(context)
    if argument:
        await _start_new(update, context, LogContactFlow.name, argument=argument)
    else:
        await flows.start(update, context, LogContactFlow.name)


async def _start_new(
    update: Update,
    context: BotContext,
    flow_name: str,
    *,
    argument: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    """Start a new draft of a flow, unless a kept draft of it already holds answers.

    A draft with answers is resumed instead, with a note on how to drop it: what the agent
    typed into it would otherwise be lost. A draft about the same client simply resumes.
    """
    agent = context.require_agent()
    async with context.db.session() as session:
        draft = await conversations.get_conversation(session, agent.id, flow_name)
    if draft is not None and draft.history:
        same = data is not None and data.get("client_id") == draft.data.get("client_id")
        if not same:
            await context.say(context.t("clients.draft_first"))
        await flows.start(update, context, flow_name)
        return
    await flows.start(update, context, flow_name, argument, data=data, fresh=True)


async def find_command(update: Update, context: BotContext) -> None:
    """Search the book by name, pinyin, initials, phone digits or policy number."""
    text = _argument(context)
    if not text:
        await flows.start(update, context, FindFlow.name)
        return
    await _show_search(context, text)


async def client_command(update: Update, context: BotContext) -> None:
    """Open a client's card by name; without a name, resume an edit or ask whom to open."""
    text = _argument(context)
    if text:
        await _show_search(context, text)
        return
    agent = context.require_agent()
    async with context.db.session() as session:
        drafts = [
            conv
            for flow in (EditClientFlow.name, FollowupFlow.name)
            if (conv := await conversations.get_conversation(session, agent.id, flow))
        ]
    if drafts:
        latest = max(drafts, key=lambda conv: conv.updated_at)
        await flows.start(update, context, latest.flow)
        return
    await flows.start(update, context, FindFlow.name)


async def _show_search(context: BotContext, text: str) -> None:
    """Send the one matching card, the list of matches, or what to try instead."""
    agent = context.require_agent()
    async with context.db.session() as session:
        found = await store.search_clients(session, agent.id, text, limit=FIND_LIMIT + 1)
        match = exact_match(found, text)
        card = None
        if match is not None:
            card = await card_message(session, agent, match.id, context.today())
    if card is not None:
        await context.say(*card)
    elif found:
        await context.say(*found_message(found, text, context.lang))
    else:
        await context.say(context.t("clients.find.none", text=text[:30]))


async def list_command(update: Update, context: BotContext) -> None:
    """Show the first page of the whole book, with the filter button."""
    await _send_page(update, context, ClientFilter(), 0, edit=False)


async def forget_command(update: Update, context: BotContext) -> None:
    """Start the confirmation that deletes everything the agent stored."""
    await flows.start(update, context, ForgetMeFlow.name)


async def contact_shared(update: Update, context: BotContext) -> None:
    """Start /add filled in from a contact shared while no conversation was open."""
    message = update.effective_message
    contact = message.contact if message is not None else None
    if contact is None:
        return
    name = " ".join(part for part in (contact.first_name, contact.last_name) if part)
    data = {"contact_name": name, "contact_phone": contact.phone_number}
    await _start_new(update, context, AddClientFlow.name, data=data)
    raise ApplicationHandlerStop


# --- buttons --------------------------------------------------------------------------------


async def _parse(update: Update, context: BotContext, codec: Codec) -> dict[str, Any] | None:
    """Decode a button's data; stale or malformed data is answered with a notice, giving None."""
    query = update.callback_query
    assert query is not None
    try:
        values = codec.parse(query.data)
    except CallbackError:
        await query.answer(context.t("flows.stale_button"))
        return None
    return values


async def _refuse(update: Update, context: BotContext) -> None:
    """Refuse a button naming a client the agent does not have, revealing nothing about it."""
    query = update.callback_query
    assert query is not None
    logger.info("refused a client button from agent %s", context.require_agent().id)
    await query.answer(context.t("clients.not_found"), show_alert=True)


async def _owned(update: Update, context: BotContext, client_id: int) -> Client | None:
    """Return the agent's client ``client_id``, or refuse the button and return None."""
    async with context.db.session() as session:
        client = await store.get_client(session, context.require_agent().id, client_id)
    if client is None:
        await _refuse(update, context)
    return client


async def _replace(update: Update, context: BotContext, text: str, buttons: Buttons) -> None:
    """Show a menu or page in place of the pressed message, or as a new one if that fails."""
    query = update.callback_query
    message = query.message if query is not None else None
    if isinstance(message, Message):
        try:
            await message.edit_text(text, reply_markup=keyboard(buttons))
            return
        except BadRequest as error:
            if "not modified" in str(error).lower():
                return
            logger.debug("could not edit message %s; sending a new one", message.message_id)
    await context.say(text, buttons)


async def open_card(update: Update, context: BotContext) -> None:
    """Send the card of the client a button names."""
    values = await _parse(update, context, links.CLIENT_CARD)
    if values is None:
        return
    agent = context.require_agent()
    async with context.db.session() as session:
        card = await card_message(session, agent, values["client_id"], context.today())
    if card is None:
        await _refuse(update, context)
        return
    assert update.callback_query is not None
    await update.callback_query.answer()
    await context.say(*card)


async def log_contact(update: Update, context: BotContext) -> None:
    """Start /log for the client a button names."""
    values = await _parse(update, context, links.LOG_CONTACT)
    if values is None or await _owned(update, context, values["client_id"]) is None:
        return
    assert update.callback_query is not None
    await update.callback_query.answer()
    await _start_for_client(update, context, LogContactFlow.name, values["client_id"])


async def _start_for_client(
    update: Update, context: BotContext, flow_name: str, client_id: int
) -> None:
    """Start a client's flow from their card (see :func:`_start_new` for kept drafts)."""
    await _start_new(update, context, flow_name, data={"client_id": client_id})


async def card_action(update: Update, context: BotContext) -> None:
    """Handle the card's grade, follow-up, edit and delete buttons."""
    values = await _parse(update, context, views.CARD_ACTION)
    if values is None:
        return
    if values["action"] not in views.CARD_ACTIONS:
        assert update.callback_query is not None
        await update.callback_query.answer(context.t("flows.stale_button"))
        return
    client = await _owned(update, context, values["client_id"])
    if client is None:
        return
    query = update.callback_query
    assert query is not None
    await query.answer()

    action = values["action"]
    if action == "grade":
        # A new message, so that the card stays readable above the grading menu.
        await context.say(*views.grade_menu(client, context.lang))
    elif action == "follow":
        await _start_for_client(update, context, FollowupFlow.name, client.id)
    elif action == "edit":
        await _start_for_client(update, context, EditClientFlow.name, client.id)
    elif action == "delete":
        await _ask_delete(context, client)


async def _ask_delete(context: BotContext, client: Client) -> None:
    """Ask to confirm deleting a client, saying how many contacts go with them."""
    async with context.db.session() as session:
        contacts = await store.count_interactions(session, client.agent_id, client.id)
    buttons = [
        [
            (
                context.t("clients.delete.yes"),
                views.DELETE.build(client_id=client.id, answer="yes"),
            ),
            (context.t("clients.delete.no"), views.DELETE.build(client_id=client.id, answer="no")),
        ]
    ]
    await context.say(context.t("clients.delete.ask", name=client.name, count=contacts), buttons)


async def delete_answer(update: Update, context: BotContext) -> None:
    """Delete the client after the confirming press, or leave them be."""
    values = await _parse(update, context, views.DELETE)
    if values is None:
        return
    agent = context.require_agent()
    client = await _owned(update, context, values["client_id"])
    if client is None:
        return
    query = update.callback_query
    assert query is not None
    await query.answer()

    if values["answer"] != "yes":
        await _replace(update, context, context.t("clients.delete.kept", name=client.name), [])
        return
    async with context.db.session() as session:
        deleted = await store.delete_client(session, agent.id, client.id)
    if deleted:
        logger.info("agent %s deleted client %s", agent.id, client.id)
    await _replace(update, context, context.t("clients.delete.done", name=client.name), [])


async def grade_button(update: Update, context: BotContext) -> None:
    """Show an axis's grades, or save the pressed grade and show the overview again."""
    values = await _parse(update, context, views.GRADE)
    if values is None:
        return
    axis, grade = values["axis"], values["grade"]
    menus = (views.GRADE_CHOOSE, views.GRADE_OVERVIEW)
    known = (*GRADES, views.GRADE_CLEAR, *menus)
    query = update.callback_query
    assert query is not None
    if axis not in GRADE_AXES or grade not in known:
        await query.answer(context.t("flows.stale_button"))
        return
    agent = context.require_agent()

    async with context.db.session() as session:
        client = await store.get_client(session, agent.id, values["client_id"])
        if client is not None and grade not in menus:
            new = None if grade == views.GRADE_CLEAR else grade
            await store.set_grade(session, client, axis, new, at=context.now())
    if client is None:
        await _refuse(update, context)
        return
    await query.answer()

    if grade == views.GRADE_CHOOSE:
        await _replace(update, context, *views.grade_choices(client, axis, context.lang))
        return
    if grade == views.GRADE_OVERVIEW:
        await _replace(update, context, *views.grade_menu(client, context.lang))
        return
    axis_label = context.t(f"choices.axis.{axis}")
    if grade == views.GRADE_CLEAR:
        saved = context.t("clients.grade.cleared", axis=axis_label)
    else:
        meaning = context.t(f"choices.grade.{axis}.{grade}")
        saved = context.t("clients.grade.saved", axis=axis_label, meaning=meaning)
    await _replace(update, context, *views.grade_menu(client, context.lang, saved))


async def list_page(update: Update, context: BotContext) -> None:
    """Show the page of the filtered list that a button names."""
    values = await _parse(update, context, views.LIST_PAGE)
    if values is None:
        return
    query = update.callback_query
    assert query is not None
    try:
        flt = views.parse_filter(values["filter"])
    except CallbackError:
        await query.answer(context.t("flows.stale_button"))
        return
    await query.answer()
    await _send_page(update, context, flt, max(values["page"], 0), edit=True)


async def _send_page(
    update: Update, context: BotContext, flt: ClientFilter, page_no: int, *, edit: bool
) -> None:
    """Render one page of a list; past the end shows the last page."""
    agent = context.require_agent()
    horizon = Horizon.for_agent(agent, context.now(), context.today())
    async with context.db.session() as session:
        page = await store.list_clients(
            session, agent.id, flt, horizon, offset=page_no * views.PAGE_SIZE
        )
        if not page.clients and page.total:
            page_no = (page.total - 1) // views.PAGE_SIZE
            page = await store.list_clients(
                session, agent.id, flt, horizon, offset=page_no * views.PAGE_SIZE
            )

    if page.total == 0 and flt.kind == "all":
        await context.say(context.t("clients.list.empty_book"))
        return
    if page.total == 0:
        text = context.t("clients.list.empty_filter", filter=views.filter_label(flt, context.lang))
        buttons: Buttons = [
            [(context.t("clients.list.filter_button"), views.LIST_FILTER.build(menu="root"))]
        ]
    else:
        text = views.list_text(page, flt, page_no, context.lang, agent.timezone)
        buttons = views.list_buttons(page, flt, page_no, context.lang)
    if edit:
        await _replace(update, context, text, buttons)
    else:
        await context.say(text, buttons)


async def filter_menu(update: Update, context: BotContext) -> None:
    """Show a filter menu in place of the list."""
    values = await _parse(update, context, views.LIST_FILTER)
    if values is None:
        return
    query = update.callback_query
    assert query is not None
    menu = views.filter_menu(values["menu"], context.lang)
    if menu is None:
        await query.answer(context.t("flows.stale_button"))
        return
    await query.answer()
    await _replace(update, context, *menu)


FLOWS: Final[tuple[type[Flow], ...]] = (
    AddClientFlow,
    LogContactFlow,
    FollowupFlow,
    EditClientFlow,
    FindFlow,
    ForgetMeFlow,
)


def register(application: Application) -> None:
    """Add the client book's commands, buttons, conversations and contact fallback."""
    for flow in FLOWS:
        application.bot_data["flows"][flow.name] = flow()
    for name, callback in (
        ("add", add_command),
        ("find", find_command),
        ("list", list_command),
        ("client", client_command),
        ("log", log_command),
        ("forget_me", forget_command),
    ):
        application.add_handler(CommandHandler(name, callback))
    for codec, button in (
        (links.CLIENT_CARD, open_card),
        (links.LOG_CONTACT, log_contact),
        (views.CARD_ACTION, card_action),
        (views.GRADE, grade_button),
        (views.DELETE, delete_answer),
        (views.LIST_PAGE, list_page),
        (views.LIST_FILTER, filter_menu),
    ):
        application.add_handler(CallbackQueryHandler(button, pattern=codec.pattern))
    # Only reached when no conversation claimed the contact (group 1 runs first).
    application.add_handler(MessageHandler(filters.CONTACT, contact_shared), group=5)
