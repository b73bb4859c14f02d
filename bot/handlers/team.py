"""Teams: /team for managers and admins, making managers, and answering escalations.

- A manager's /team shows each member's counts, on the member's own calendar: due today
  (follow-ups dated today and policies maturing within the member's "soon" window), overdue
  follow-ups, open escalations and this month's renewals. Never a client's phone, address
  or name.
- An admin's /team lists the managers; ``/team promote @username`` (or a Telegram user id,
  or a button) makes an agent a manager, ``/team demote …`` makes them a plain agent again.
  A manager's /invite puts the people it lets in into their team.
- An escalated maturity case reaches the member's manager with two buttons
  (:data:`bot.links.ESCALATION`): *acknowledge* records that the manager has seen it and
  tells the member; *reply* asks the manager for a few lines (a small guided conversation)
  and delivers them to the member's chat.
"""

from __future__ import annotations

import logging
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.error import Forbidden, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import flows, i18n
from bot.callbacks import CallbackError, Codec
from bot.context import BotContext, keyboard
from bot.flows import END, Answer, Flow, Turn
from bot.links import ESCALATION, OPEN_CASE
from bot.parsing import format_date
from storage import conversations
from storage import team as store
from storage.agents import ROLE_ADMIN, ROLE_MANAGER
from storage.models import Agent

logger = logging.getLogger(__name__)

PROMOTE = Codec("tp", agent_id=int)

ACK: Final = "ack"
REPLY: Final = "reply"
REPLY_LIMIT: Final = 1000
# How many plain agents an admin's /team offers as one-tap "make manager" buttons.
PROMOTE_BUTTONS: Final = 10

_PROMOTE_WORDS: Final = frozenset({"promote", "manager", "任命", "设为经理", "升为经理"})
_DEMOTE_WORDS: Final = frozenset({"demote", "取消经理", "撤销", "撤销经理"})


# --- /team -------------------------------------------------------------------------------


async def team_command(update: Update, context: BotContext) -> None:
    """Show the team and, for an admin, the managers; or change a role; resume a reply."""
    agent = context.require_agent()
    args = context.args or []
    if args:
        await _change_role(context, agent, args)
        return

    async with context.db.session() as session:
        figures = await store.team_figures(session, agent.id, now=context.now())
        draft = await conversations.get_conversation(session, agent.id, ReplyFlow.name)

    if agent.role == ROLE_ADMIN:
        await _show_managers(context)
    # A team is whoever names this agent as their manager: shown to a manager even when
    # empty, and to anyone else who has members (their escalations come here too).
    if figures or agent.role == ROLE_MANAGER:
        await _show_team(context, figures)
    elif agent.role != ROLE_ADMIN:
        await context.say(context.t("team.not_manager"))

    if draft is not None:
        # A reply set aside (by silence or another command) is picked up where it was.
        await flows.start(update, context, ReplyFlow.name)


async def _show_team(context: BotContext, figures: list[store.MemberFigures]) -> None:
    """Send each member's counts and the team's totals."""
    if not figures:
        await context.say(context.t("team.no_members"))
        return

    lines = [
        context.t(
            "team.header", count=len(figures), date=format_date(context.today(), context.lang)
        )
    ]
    for member in figures:
        name = member.name if member.active else context.t("team.inactive", name=member.name)
        lines += [
            "",
            name,
            context.t(
                "team.member_line",
                due=member.due_today,
                followups=member.followups_today,
                maturing=member.maturing_soon,
                days=member.soon_days,
                overdue=member.overdue_followups,
                escalations=member.open_escalations,
                renewals=member.renewals_this_month,
            ),
        ]
    lines += [
        "",
        context.t(
            "team.totals",
            due=sum(m.due_today for m in figures),
            overdue=sum(m.overdue_followups for m in figures),
            escalations=sum(m.open_escalations for m in figures),
            renewals=sum(m.renewals_this_month for m in figures),
        ),
    ]
    await context.say("\n".join(lines))


async def _show_managers(context: BotContext) -> None:
    """Send an admin the managers with their team sizes, and agents to promote as buttons."""
    async with context.db.session() as session:
        managers = await store.managers(session)
        candidates = await store.promotable(session, limit=PROMOTE_BUTTONS)

    lines = [context.t("team.admin_header")]
    if managers:
        lines += [context.t("team.manager_line", name=m.name, members=m.members) for m in managers]
    else:
        lines.append(context.t("team.no_managers"))
    lines += ["", context.t("team.admin_usage")]
    if candidates:
        lines.append(context.t("team.promote_hint"))
    buttons = [
        [
            (
                context.t("team.promote_button", name=store.display_name(candidate)),
                PROMOTE.build(agent_id=candidate.id),
            )
        ]
        for candidate in candidates
    ]
    await context.say("\n".join(lines), buttons or None)


async def _change_role(context: BotContext, agent: Agent, args: list[str]) -> None:
    """Handle ``/team promote|demote <@username or id>`` for an admin."""
    if agent.role != ROLE_ADMIN:
        await context.say(context.t("team.admin_only"))
        return
    verb = args[0].lower()
    if verb not in _PROMOTE_WORDS | _DEMOTE_WORDS:
        await context.say(context.t("team.bad_subcommand", text=args[0][:20]))
        return
    if len(args) != 2:
        await context.say(context.t("team.need_who"))
        return

    async with context.db.session() as session:
        target = await store.find_agent(session, args[1])
        if target is None:
            await context.say(context.t("team.not_found", who=args[1][:40]))
            return
        await _apply_role(context, session, target, manager=verb in _PROMOTE_WORDS)


async def promote_button(update: Update, context: BotContext) -> None:
    """Make the agent on the pressed button a manager; only an admin's press counts."""
    query = update.callback_query
    assert query is not None
    agent = context.require_agent()
    try:
        target_id = PROMOTE.parse(query.data)["agent_id"]
    except CallbackError:
        target_id = None
    if agent.role != ROLE_ADMIN or target_id is None:
        await query.answer(context.t("team.button_unavailable"), show_alert=True)
        return

    await query.answer()
    async with context.db.session() as session:
        target = await session.get(Agent, target_id)
        if target is None:
            await context.say(context.t("team.button_unavailable"))
            return
        await _apply_role(context, session, target, manager=True)


async def _apply_role(
    context: BotContext, session: AsyncSession, target: Agent, *, manager: bool
) -> None:
    """Change ``target``'s role, tell the admin, and tell the target in their language."""
    name = store.display_name(target)
    if target.role == ROLE_ADMIN:
        await context.say(context.t("team.target_is_admin", name=name))
        return
    if (target.role == ROLE_MANAGER) == manager:
        key = "team.already_manager" if manager else "team.already_agent"
        await context.say(context.t(key, name=name))
        return

    await store.set_manager_role(session, target, manager)
    # Committed before anyone is told, so that no one hears of a change that did not land.
    await session.commit()
    logger.info("agent %s is now %s", target.id, target.role)
    await context.say(context.t("team.promoted" if manager else "team.demoted", name=name))
    note = "team.you_are_manager" if manager else "team.you_are_agent"
    await _notify(context, target, i18n.t(target.language, note))


async def _notify(
    context: BotContext,
    agent: Agent,
    text: str,
    buttons: list[list[tuple[str, str]]] | None = None,
) -> bool:
    """Send ``text`` to another agent's chat; tell whether it arrived."""
    try:
        await context.bot.send_message(
            agent.telegram_id, text, reply_markup=keyboard(buttons) if buttons else None
        )
    except Forbidden:
        logger.info("agent %s has blocked the bot; the note was not delivered", agent.id)
        return False
    except TelegramError:
        logger.warning("a note to agent %s could not be sent", agent.id, exc_info=True)
        return False
    return True


# --- escalations -------------------------------------------------------------------------


async def escalation_button(update: Update, context: BotContext) -> None:
    """Acknowledge an escalated case, or start the reply to it."""
    query = update.callback_query
    assert query is not None
    manager = context.require_agent()
    try:
        parsed = ESCALATION.parse(query.data)
    except CallbackError:
        parsed = {"case_id": 0, "action": ""}
    case_id, action = parsed["case_id"], parsed["action"]

    async with context.db.session() as session:
        escalation = await store.escalation_for(session, case_id, manager.id)
        if escalation is None or action not in (ACK, REPLY):
            # The same words for a stale button, a forged one and another team's case.
            await query.answer(context.t("team.escalation_unavailable"), show_alert=True)
            return
        first_time = action == ACK and await store.acknowledge(
            session, escalation, now=context.now()
        )

    if action == REPLY:
        await query.answer()
        await flows.start(update, context, ReplyFlow.name, data={"case_id": case_id}, fresh=True)
        return

    if not first_time:
        await query.answer(context.t("team.already_acknowledged"))
        return
    await query.answer(context.t("team.acknowledged_toast"))
    await _keep_only_reply(update, case_id, context)
    member = escalation.member
    delivered = await _notify(
        context,
        member,
        i18n.t(
            member.language,
            "team.member_acknowledged",
            manager=store.display_name(manager),
            holder=escalation.policy.holder_name or "",
            policy=escalation.policy.policy_number,
        ),
        _case_button(member, escalation.policy.id),
    )
    key = "team.acknowledged" if delivered else "team.acknowledged_not_told"
    await context.say(context.t(key, name=store.display_name(member)))


async def _keep_only_reply(update: Update, case_id: int, context: BotContext) -> None:
    """Leave only the reply button on an acknowledged escalation message."""
    message = update.effective_message
    if message is None:
        return
    reply = [[(context.t("team.reply_button"), ESCALATION.build(case_id=case_id, action=REPLY))]]
    try:
        await message.edit_reply_markup(reply_markup=keyboard(reply))
    except TelegramError:
        logger.debug("could not update the buttons of message %s", message.message_id)


def _case_button(member: Agent, policy_id: int) -> list[list[tuple[str, str]]]:
    """Return the button that opens the case, labelled in the member's language."""
    return [[(i18n.t(member.language, "team.open_case"), OPEN_CASE.build(policy_id=policy_id))]]


class ReplyFlow(Flow):
    """A manager's reply to an escalated case: one typed message, delivered to the member."""

    name = "team_reply"
    first_step = "text"
    command = "team"

    async def begin(self, turn: Turn, argument: str) -> str:
        """Check the case is still the manager's to answer before asking for the reply."""
        escalation = await self._escalation(turn)
        if escalation is None:
            turn.send(turn.t("team.escalation_unavailable"))
            return END
        turn.data["member"] = store.display_name(escalation.member)
        turn.data["holder"] = escalation.policy.holder_name or ""
        turn.data["policy"] = escalation.policy.policy_number
        return self.first_step

    async def ask_text(self, turn: Turn) -> None:
        """Ask for the reply."""
        turn.ask(
            turn.t(
                "team.ask_reply",
                member=turn.data.get("member", ""),
                holder=turn.data.get("holder", ""),
                policy=turn.data.get("policy", ""),
                limit=REPLY_LIMIT,
            )
        )

    async def on_text(self, turn: Turn, answer: Answer) -> str:
        """Deliver the typed reply to the member, and count it as an acknowledgement."""
        text = (answer.text or "").strip()
        if not text:
            return turn.retry("team.reply_need_text")
        if len(text) > REPLY_LIMIT:
            return turn.retry("team.reply_too_long", limit=REPLY_LIMIT, length=len(text))

        escalation = await self._escalation(turn)
        if escalation is None:
            turn.send(turn.t("team.escalation_unavailable"))
            return END
        await store.acknowledge(turn.session, escalation, now=turn.context.now())

        member = escalation.member
        message = i18n.t(
            member.language,
            "team.member_reply",
            manager=store.display_name(turn.agent),
            holder=escalation.policy.holder_name or "",
            policy=escalation.policy.policy_number,
            text=text,
        )
        delivered = await _notify(
            turn.context, member, message, _case_button(member, escalation.policy.id)
        )
        if not delivered:
            turn.send(turn.t("team.reply_not_delivered", name=store.display_name(member)))
            return END
        turn.send(turn.t("team.reply_sent", name=store.display_name(member)))
        return END

    async def on_idle(self, turn: Turn) -> None:
        """Say how to come back to a reply left unfinished."""
        turn.send(turn.t("team.reply_paused"))

    async def _escalation(self, turn: Turn) -> store.Escalation | None:
        """Return the escalated case of this draft if it is still in the manager's team."""
        case_id = turn.data.get("case_id")
        if not isinstance(case_id, int):
            return None
        return await store.escalation_for(turn.session, case_id, turn.agent.id)


def register(application: Application) -> None:
    """Add /team, the promote and escalation buttons, and the reply conversation."""
    application.bot_data["flows"][ReplyFlow.name] = ReplyFlow()
    application.add_handler(CommandHandler("team", team_command))
    application.add_handler(CallbackQueryHandler(promote_button, pattern=PROMOTE.pattern))
    application.add_handler(CallbackQueryHandler(escalation_button, pattern=ESCALATION.pattern))
