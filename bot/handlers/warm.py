"""/warm: the warm-market search, the 13 circles of people the agent already knows.

The :class:`WarmFlow` asks one category at a time (``cat1`` … ``cat13``), with examples
of whom to think of. For each, the agent types names (several per message), shares
contacts, or moves on (*skip* when nothing came to mind, *done* after adding names); *save
and stop* ends early. Names are a draft in the conversation until the search ends, so
``/warm`` later — even after a restart — resumes at the category the agent had reached,
with the count so far. A name that looks like someone already in the book or already on
this list is shown to the agent, who decides whether it is the same person.

At the end every name becomes a prospect (source warm market, with its category), and the
agent gets the count per category and a button that lists the new names for grading.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Any, Final

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import flows, links
from bot.callbacks import CallbackError, Codec
from bot.context import BotContext
from bot.flows import END, Answer, Flow, StepAnswer, StepAsk, Turn
from bot.parsing import (
    MAX_NAME_LENGTH,
    ParseError,
    mask_phone,
    parse_int_in_range,
    parse_phone,
    split_names,
)
from storage import clients as client_store
from storage import referrals as referral_store
from storage.choices import WARM_CATEGORIES
from storage.models import Client

logger = logging.getLogger(__name__)

# The list of new names to grade: the batch's stamp (epoch seconds) and the page.
WARM_GRADE = Codec("wg", at=int, page=int)
GRADE_PAGE_SIZE: Final = 10

FIRST: Final = WARM_CATEGORIES[0]
LAST: Final = WARM_CATEGORIES[-1]
CATEGORY_STEP: Final = "cat"

# Button values, and what the agent may type instead of pressing them.
NEXT: Final = "next"
FINISH: Final = "finish"
KEEP: Final = "keep"
ADD: Final = "add"
NEXT_WORDS: Final = frozenset(
    {"跳过", "没有", "无", "下一类", "完成", "好了", "skip", "next", "none", "done"}
)
FINISH_WORDS: Final = frozenset({"结束", "保存", "先到这里", "finish", "stop", "save"})


def category_step(number: int) -> str:
    """Return the step name of warm-market category ``number``."""
    return f"{CATEGORY_STEP}{number}"


class WarmFlow(Flow):
    """The warm-market search: names for each of the 13 categories, saved at the end."""

    name = "warm"
    first_step = category_step(FIRST)
    command = "warm"

    def asker(self, step: str) -> StepAsk:
        """Return the prompt of ``step``; every category shares one prompt method."""
        number = _category(step)
        if number is None:
            return super().asker(step)

        async def ask(turn: Turn) -> None:
            await self.ask_category(turn, number)

        return ask

    def answerer(self, step: str) -> StepAnswer:
        """Return the answer method of ``step``; every category shares one."""
        number = _category(step)
        if number is None:
            return super().answerer(step)

        async def answer(turn: Turn, given: Answer) -> str:
            return await self.on_category(turn, given, number)

        return answer

    async def begin(self, turn: Turn, argument: str) -> str:
        """Start an empty list at category 1, or at the category typed after /warm."""
        turn.data.update(names=[], pending=[], cat=FIRST)
        if not argument:
            turn.send(turn.t("warm.intro", last=LAST))
            return self.first_step
        try:
            number = parse_int_in_range(argument, FIRST, LAST)
        except ParseError:
            turn.send(turn.t("warm.bad_start", text=argument[:20], last=LAST))
            return END

        # Starting at a later category means carrying on an earlier search: no introduction.
        turn.data["cat"] = number
        return category_step(number)

    def unsaved(self, data: dict[str, Any]) -> int:
        """Count the names listed so far, waiting to be saved at the end."""
        return len(data.get("names", [])) + len(data.get("pending", []))

    async def on_idle(self, turn: Turn) -> None:
        """Say where the search paused, how many names it holds, and how to go on."""
        turn.send(
            turn.t(
                "warm.paused",
                number=int(turn.data.get("cat", FIRST)),
                count=len(_names(turn)),
                command=self.command,
            )
        )

    # --- the 13 categories -------------------------------------------------------------

    async def ask_category(self, turn: Turn, number: int) -> None:
        """Show the category with its examples and what was listed so far."""
        names = _names(turn)
        here = [entry["n"] for entry in names if entry["c"] == number]
        title = turn.t(f"choices.warm.{number}")
        if here:
            # Once names are coming, the examples have done their job: keep the re-ask short.
            parts = [
                turn.t("warm.category_title", number=number, last=LAST, title=title),
                turn.t("warm.so_far_here", names=_joined(turn, here)),
                turn.t("warm.so_far_total", count=len(names)),
            ]
        else:
            examples = turn.t(f"warm.examples.{number}")
            parts = [
                turn.t(
                    "warm.ask_category", number=number, last=LAST, title=title, examples=examples
                )
            ]
            if names:
                parts.append(turn.t("warm.so_far_total", count=len(names)))
            parts.append(turn.t("warm.how_to_answer"))

        move_on = turn.t("warm.done_here" if here else "warm.skip_here")
        rows = [[turn.button(move_on, NEXT)], [turn.button(turn.t("warm.finish"), FINISH)]]
        turn.ask("\n\n".join(parts), rows)

    async def on_category(self, turn: Turn, answer: Answer, number: int) -> str:
        """Add typed names or a shared contact, or move on to the next category."""
        turn.data["cat"] = number
        typed = (answer.text or "").strip().lower()
        if answer.choice == FINISH or typed in FINISH_WORDS:
            return await self._finish(turn, number, complete=False)
        if answer.choice == NEXT or typed in NEXT_WORDS:
            if number == LAST:
                return await self._finish(turn, number, complete=True)
            turn.data["cat"] = number + 1
            return category_step(number + 1)
        if answer.choice is not None:
            return turn.retry("warm.names_or_buttons")

        if answer.contact_name:
            name = " ".join(answer.contact_name.split())
            if len(name) > MAX_NAME_LENGTH:
                return turn.retry("parsing.name_too_long", text=name[:30], limit=MAX_NAME_LENGTH)
            if not any(ch.isalpha() for ch in name):
                return turn.retry("warm.not_a_name", text=name)
            entries = [_entry(name, number, _contact_phone(answer.contact_phone))]
            if answer.contact_phone and entries[0]["p"] is None:
                turn.send(turn.t("warm.contact_phone_unread", name=name))
        else:
            if not typed:
                return turn.retry("warm.names_or_buttons")
            try:
                typed_names = split_names(answer.text or "")
            except ParseError as error:
                return turn.retry(error.key, **error.values)
            odd = next((n for n in typed_names if not any(ch.isalpha() for ch in n)), None)
            if odd is not None:
                return turn.retry("warm.not_a_name", text=odd)
            entries = [_entry(name, number, None) for name in typed_names]

        taken = []
        for entry in entries:
            if await self._flag(turn, entry):
                _pending(turn).append(entry)
            else:
                _names(turn).append(entry)
                taken.append(entry["n"])
        if taken:
            turn.send(turn.t("warm.taken", names=_joined(turn, taken)))

        return "dup" if _pending(turn) else category_step(number)

    # --- possible duplicates -----------------------------------------------------------

    async def _flag(self, turn: Turn, entry: dict[str, Any]) -> bool:
        """Note on ``entry`` whom it may duplicate (book or list); tell whether anyone."""
        book = await referral_store.book_duplicates(
            turn.session, turn.agent.id, entry["n"], entry["p"], accepted=entry["ok"]
        )
        in_list = not entry.get("ok_list") and any(
            _same_person(entry, other) for other in (*_names(turn), *_pending(turn))
        )
        if not book and not in_list:
            return False
        entry.update(ids=[client.id for client in book], in_list=in_list)
        return True

    async def ask_dup(self, turn: Turn) -> None:
        """Show who the first flagged name may already be, and ask if it is the same person."""
        entry = _pending(turn)[0]
        lines, rows = [], []
        clients = await referral_store.get_clients(turn.session, turn.agent.id, entry["ids"])
        for client in clients:
            lines.append("· " + _client_label(turn, client))
            # Namesakes need more than the name to tell their buttons apart.
            name = _client_label(turn, client) if len(clients) > 1 else client.name
            label = turn.t("warm.open_card", name=name)
            rows.append([(label, links.CLIENT_CARD.build(client_id=client.id))])
        if entry["in_list"]:
            lines.append(turn.t("warm.dup_in_list", name=entry["n"]))

        rows.append([turn.button(turn.t("warm.keep_existing"), KEEP)])
        rows.append([turn.button(turn.t("warm.add_anyway"), ADD)])
        turn.ask(turn.t("warm.ask_dup", name=entry["n"], matches="\n".join(lines)), rows)

    async def on_dup(self, turn: Turn, answer: Answer) -> str:
        """Drop the flagged name (same person) or add it, then carry on where the agent was."""
        # The question reads "is it the same person?": a typed yes keeps the one on file.
        same = flows.yes_or_no(answer.text) if answer.choice is None else None
        choice = answer.choice if same is None else (KEEP if same else ADD)
        if choice not in (KEEP, ADD):
            return turn.retry("warm.same_or_not")
        entry = _pending(turn).pop(0)
        if choice == KEEP:
            turn.send(turn.t("warm.dropped", name=entry["n"]))
        else:
            entry["ok"] = sorted({*entry["ok"], *entry.pop("ids")})
            entry["ok_list"] = entry.get("ok_list") or entry.pop("in_list")
            _names(turn).append(_entry(entry["n"], entry["c"], entry["p"], entry))
            turn.send(turn.t("warm.taken", names=entry["n"]))

        if _pending(turn):
            return "dup"
        if turn.data.get("finishing"):
            return await self._save(turn)
        return category_step(int(turn.data["cat"]))

    # --- the end -----------------------------------------------------------------------

    async def _finish(self, turn: Turn, number: int, *, complete: bool) -> str:
        """Check the list against the book once more, then save it."""
        names = _names(turn)
        here = any(entry["c"] == number for entry in names)
        after = number + 1 if complete or here else number
        turn.data["resume_at"] = after if after <= LAST else None

        # The book may have changed while the list waited; never double anyone silently.
        keep = []
        for entry in names:
            book = await referral_store.book_duplicates(
                turn.session, turn.agent.id, entry["n"], entry["p"], accepted=entry["ok"]
            )
            if book:
                entry.update(ids=[client.id for client in book], in_list=False)
                _pending(turn).append(entry)
            else:
                keep.append(entry)
        turn.data["names"] = keep
        if _pending(turn):
            turn.data["finishing"] = True
            turn.send(turn.t("warm.check_before_saving", count=len(_pending(turn))))
            return "dup"

        return await self._save(turn)

    async def _save(self, turn: Turn) -> str:
        """Add every listed name as a warm-market prospect and report the count per category."""
        names = sorted(_names(turn), key=lambda entry: int(entry["c"]))
        resume_at = turn.data.get("resume_at")
        if not names:
            turn.send(turn.t("warm.saved_none"))
            return END

        stamp = referral_store.batch_time(turn.context.now())
        for entry in names:
            await client_store.create_client(
                turn.session,
                turn.agent.id,
                name=entry["n"],
                phone=entry["p"],
                source="warm",
                warm_category=entry["c"],
                created_at=stamp,
            )
        logger.info("agent %s saved %d warm-market names", turn.agent.id, len(names))

        counts = Counter(int(entry["c"]) for entry in names)
        lines = [
            turn.t("warm.count_line", number=n, title=turn.t(f"choices.warm.{n}"), count=c)
            for n, c in sorted(counts.items())
        ]
        parts = [turn.t("warm.saved", count=len(names), lines="\n".join(lines))]
        if resume_at is not None:
            parts.append(turn.t("warm.resume_hint", number=resume_at))
        at = int(stamp.timestamp())
        button = (turn.t("warm.grade_button"), WARM_GRADE.build(at=at, page=0))
        turn.send("\n\n".join(parts), [[button]])

        return END


def _category(step: str) -> int | None:
    """Return the category number of a category step, or None for other steps."""
    number = step.removeprefix(CATEGORY_STEP)
    if step.startswith(CATEGORY_STEP) and number.isdigit() and int(number) in WARM_CATEGORIES:
        return int(number)
    return None


def _names(turn: Turn) -> list[dict[str, Any]]:
    names: list[dict[str, Any]] = turn.data.setdefault("names", [])
    return names


def _pending(turn: Turn) -> list[dict[str, Any]]:
    pending: list[dict[str, Any]] = turn.data.setdefault("pending", [])
    return pending


def _entry(
    name: str, number: int, phone: str | None, judged: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return a draft entry: name, category, phone, and the agent's duplicate judgements."""
    judged = judged or {}
    return {
        "n": name,
        "c": number,
        "p": phone,
        "ok": list(judged.get("ok", [])),
        "ok_list": bool(judged.get("ok_list", False)),
    }


def _same_person(entry: dict[str, Any], other: dict[str, Any]) -> bool:
    """Tell whether two draft entries look like one person: same phone, or same name."""
    if entry["p"] and entry["p"] == other["p"]:
        return True
    return bool(entry["n"].casefold() == other["n"].casefold())


def _contact_phone(raw: str | None) -> str | None:
    """Read a shared contact's phone; one that is not a Chinese number is left out."""
    if not raw:
        return None
    try:
        return parse_phone(raw)
    except ParseError:
        return None


def _joined(turn: Turn, names: list[str]) -> str:
    return turn.t("warm.separator").join(names)


def _client_label(turn: Turn, client: Client) -> str:
    source = turn.t(f"choices.source.{client.source}")
    if client.phone:
        phone = mask_phone(client.phone)
        return turn.t("warm.client_label_phone", name=client.name, source=source, phone=phone)
    return turn.t("warm.client_label", name=client.name, source=source)


# --- commands and buttons --------------------------------------------------------------


async def warm_command(update: Update, context: BotContext) -> None:
    """Start the warm-market search (a number after the command picks the category)."""
    argument = " ".join(context.args or [])
    await flows.start(update, context, WarmFlow.name, argument)


async def grade_list(update: Update, context: BotContext) -> None:
    """List one page of a saved batch of warm-market names, each opening its card."""
    query = update.callback_query
    assert query is not None
    try:
        parsed = WARM_GRADE.parse(query.data)
    except CallbackError:
        await query.answer(context.t("flows.stale_button"))
        return
    await query.answer()
    agent = context.require_agent()

    stamp = datetime.fromtimestamp(max(parsed["at"], 0), UTC)
    page = max(parsed["page"], 0)
    async with context.db.session() as session:
        total = await referral_store.count_batch(session, agent.id, "warm", stamp)
        clients = await referral_store.list_batch(
            session, agent.id, "warm", stamp, offset=page * GRADE_PAGE_SIZE, limit=GRADE_PAGE_SIZE
        )
    if not clients:
        await context.say(context.t("warm.grade_empty"))
        return

    pages = -(-total // GRADE_PAGE_SIZE)
    rows = [
        [(_grade_label(context, client), links.CLIENT_CARD.build(client_id=client.id))]
        for client in clients
    ]
    nav = []
    if page > 0:
        nav.append(
            (context.t("warm.previous_page"), WARM_GRADE.build(at=parsed["at"], page=page - 1))
        )
    if page + 1 < pages:
        nav.append((context.t("warm.next_page"), WARM_GRADE.build(at=parsed["at"], page=page + 1)))
    if nav:
        rows.append(nav)
    await context.say(context.t("warm.grade_list", page=page + 1, pages=pages), rows)


def _grade_label(context: BotContext, client: Client) -> str:
    grades = [client.grade_timing, client.grade_willingness, client.grade_depth]
    if not any(grades):
        return context.t("warm.ungraded_label", name=client.name)
    shown = "/".join(grade or "–" for grade in grades)
    return context.t("warm.graded_label", name=client.name, grades=shown)


def register(application: Application) -> None:
    """Add /warm, its guided conversation and the grading list to the application."""
    application.bot_data["flows"][WarmFlow.name] = WarmFlow()
    application.add_handler(CommandHandler("warm", warm_command))
    application.add_handler(CallbackQueryHandler(grade_list, pattern=WARM_GRADE.pattern))
