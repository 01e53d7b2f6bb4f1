"""Keyword lexicon: does a participant message express appreciation or dissatisfaction?

The sync runs :func:`classify` over every participant message while it reads a transcript
(:func:`services.sync.records.summarise_transcript`) and stores only two counts per session —
participant messages with an appreciation word and with a dissatisfaction word. The message
text itself is never stored.

Matching rules (each one tested in ``tests/test_lexicon.py``):

* **Case-insensitive and Unicode-aware**: text is case-folded (``str.casefold``) and curly
  apostrophes (``’``) count as ``'``; ``\\w`` is Unicode, so letters with accents are word
  characters.
* **Whole words**: a term matches only at a word start and only up to a word end — ``great``
  matches "great!" and "Great," but not "greatest"; ``useless`` not "uselessness". Terms meant
  to cover inflections say so with ``\\w*`` — ``frustrat\\w*`` matches "frustrated",
  "frustrating" and "frustration" (the prototype's ``frustrat`` with a trailing word boundary
  never matched "frustrated"). A term never matches inside a longer word: "unfrustrated" and
  "unhelpful" do not contain the words ``frustrat…`` and ``helpful`` (``unhelpful`` is a
  dissatisfaction term of its own).
* **Negation**: a praise word with a negation (``not``, ``no``, ``never``, ``hardly``,
  ``n't``) up to two words before it, in the same clause (punctuation ends the scope), is
  dissatisfaction, not appreciation — "not helpful", "wasn't very useful", "not that great";
  "no problem, thanks" stays appreciation. Thanks are not negated ("can't thank you enough" is
  thanks) except "no thanks", which is neither.
* **Per message**: a message counts at most once per side, however many terms it holds; one
  message can count on both sides ("thanks, but that's wrong").

The lists are deliberately short and conservative: common words that are mostly about something
else ("bad", "wrong" on its own — "what is wrong with the baby?") are left out or only matched
in a phrase ("that's wrong", "wrong answer").
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """One lexicon entry: ``label`` is shown in the UI, ``pattern`` is the regex (no anchors;
    :func:`_compile` adds the word-start and word-end guards)."""

    label: str
    pattern: str
    negatable: bool = True
    """Appreciation only: a negated match counts as dissatisfaction, not appreciation (False:
    negation does not apply — "can't thank you enough" is thanks)."""


APPRECIATION: tuple[Term, ...] = (
    Term("thank… (thanks, thank you, thankful)", r"(?<!no )(?<!no, )thank\w*", negatable=False),
    Term("thx", r"(?<!no )thx", negatable=False),
    Term("appreciat… (appreciate, appreciated)", r"appreciat\w*"),
    Term("helpful", r"helpful"),
    Term("useful", r"useful"),
    Term("help(s/ed) a lot", r"help(?:s|ed)?\s+(?:me\s+)?a\s+lot"),
    Term("great", r"great"),
    Term("love (loved, loving, lovely)", r"lov(?:e|ed|es|ing|ely)"),
    Term("awesome", r"awesome"),
    Term("perfect(ly)", r"perfect(?:ly)?"),
    Term("excellent", r"excellent"),
    Term("amazing", r"amazing"),
    Term("wonderful", r"wonderful"),
    Term("fantastic", r"fantastic"),
    Term("brilliant", r"brilliant"),
    Term("well done / good job", r"well\s+done|good\s+job"),
)
"""Words of thanks and praise in participant messages."""

DISSATISFACTION: tuple[Term, ...] = (
    Term("frustrat… (frustrated, frustrating, frustration)", r"frustrat\w*"),
    Term("useless", r"useless"),
    Term("unhelpful", r"unhelpful"),
    Term("doesn't / didn't help", r"(?:does|did|do)(?:n'?t|\s+not)\s+help\w*"),
    Term("doesn't / didn't work, not working", r"(?:does|did)(?:n'?t|\s+not)\s+work|not\s+working"),
    Term(
        "that's / you're wrong, wrong answer",
        r"(?:that'?s|that\s+is|this\s+is|it'?s|it\s+is|you'?re|you\s+are)\s+wrong"
        r"|wrong\s+(?:answer|information|info)",
    ),
    Term("confusing", r"confusing"),
    Term("annoy… (annoying, annoyed)", r"annoy\w*"),
    Term("waste of (my) time", r"waste\s+of\s+(?:my\s+|our\s+)?time"),
    Term(
        "makes no sense, doesn't make sense",
        r"makes\s+no\s+sense|(?:does|did)(?:n'?t|\s+not)\s+make\s+sense",
    ),
    Term("you don't understand", r"you\s+(?:don'?t|do\s+not|didn'?t|did\s+not)\s+understand"),
    Term("terrible", r"terrible"),
    Term("awful", r"awful"),
    Term("stupid", r"stupid"),
)
"""Words of frustration and complaint; a negated praise word counts here too (see
:data:`NEGATION_RULE`)."""

NEGATION_RULE = (
    "A praise word with “not”, “no”, “never”, “hardly” or “n't” up to two words before it "
    "(“not helpful”, “wasn't very useful”, “not that great”) counts as dissatisfaction, not "
    "appreciation; “no thanks” counts as neither."
)
"""The negation rule in words, for the UI and the README."""

NEGATION = re.compile(
    r"(?:(?<!\w)(?:not|no|never|hardly|cannot|dont|doesnt|didnt|isnt|wasnt|arent|werent)|n't)"
    r"\s+(?:[\w']+\s+){0,2}$"
)
"""A negation up to two words before the end of the text it is searched in."""
_LOOKBEHIND = 40
"""Characters before a match searched for :data:`NEGATION`."""


def _compile(terms: tuple[Term, ...]) -> re.Pattern:
    alternatives = "|".join(f"(?P<t{i}>{term.pattern})" for i, term in enumerate(terms))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


_APPRECIATION = _compile(APPRECIATION)
_DISSATISFACTION = _compile(DISSATISFACTION)


def normalise(text: str) -> str:
    """Case-folded text with curly apostrophes as ``'``."""
    return text.casefold().replace("\u2019", "'").replace("\u02bc", "'")


def classify(text: str) -> tuple[bool, bool]:
    """``(appreciation, dissatisfaction)`` for one participant message."""
    if not text:
        return False, False
    folded = normalise(text)
    appreciation = False
    dissatisfaction = _DISSATISFACTION.search(folded) is not None
    for match in _APPRECIATION.finditer(folded):
        term = APPRECIATION[int(match.lastgroup[1:])]
        before = folded[max(0, match.start() - _LOOKBEHIND) : match.start()]
        if term.negatable and NEGATION.search(before):
            dissatisfaction = True
        else:
            appreciation = True
        if appreciation and dissatisfaction:
            break
    return appreciation, dissatisfaction


def count_hits(messages: list[str]) -> tuple[int, int]:
    """Participant messages with an appreciation word and with a dissatisfaction word."""
    appreciation = dissatisfaction = 0
    for text in messages:
        a, d = classify(text)
        appreciation += a
        dissatisfaction += d
    return appreciation, dissatisfaction


def labels(terms: tuple[Term, ...]) -> list[str]:
    """The UI's list of a lexicon side."""
    return [term.label for term in terms]
