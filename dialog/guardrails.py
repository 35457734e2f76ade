"""Guardrails: what the kiosk refuses before any matching or generation happens.

Prompt injection, requests for its instructions, role-play jailbreaks, abuse,
harmful requests and attempts to make it promise things get a polite refusal,
never obedience. Input is capped in length. Generation is separately capped in
tokens and wall time by the LLM engines, and checked against the passages by
:mod:`dialog.grounding`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_INPUT_CHARS = 400

_INJECTION = [
    r"\bignore\b.{0,40}\b(instruction|prompt|rule|previous|above|guideline|told)",
    r"\bdisregard\b.{0,40}\b(instruction|prompt|rule|previous|above)",
    r"\bforget\b.{0,40}\b(instruction|prompt|rule|everything|previous|you were told)",
    r"\b(system|initial|hidden|original|secret)\s+(prompt|instruction|message|rules?)\b",
    r"\byour\s+(instructions|prompt|rules|guidelines|configuration|programming)\b",
    r"\b(repeat|print|show|reveal|output|display|tell me|leak|dump|translate|summari[sz]e)\b.{0,40}"
    r"\b(above|instructions|prompt|everything before|text before|previous text|guidelines)",
    r"\byou are (now|no longer)\b",
    r"\b(pretend|act|behave|roleplay|role-play|role play)\b.{0,30}\b(as|to be|you are|like)\b",
    r"\b(pretend|imagine|act as if|act like)\b.{0,40}\b(faq|knowledge base|database|answers?|records?|system|"
    r"instructions?|rules?)\b.{0,15}\b(says?|said|states?|reads?|shows?|tells?)\b",
    r"\bfrom now on\b.{0,30}\b(you|your|act|answer|respond|reply|only|always|never)\b",
    r"\b(dan|jailbreak|jailbroken|developer mode|god mode|sudo mode|unfiltered|uncensored)\b",
    r"\bdo anything now\b",
    r"\bnew (instructions|rules|persona|role)\b",
    r"\boverride\b.{0,20}\b(your|all|safety|instructions|rules|restrictions)\b",
    r"<\|?(system|im_start|im_end|assistant|user)\|?>",
    r"\[(system|inst)\]",
    r"###\s*(system|instruction)",
    r"\b(say|repeat|write|type|confirm|promise|guarantee|state)\b.{0,30}\b(after me|exactly|word for word|"
    r"the following|that the (bank|museum|metro|company)|you will|we will|i will get|refund me)\b",
    r"\bsimulate\b.{0,30}\b(mode|ai|assistant|terminal|shell)\b",
]

_ABUSE = [
    r"\b(fuck\w*|shit\w*|bitch\w*|bastard\w*|asshole\w*|dickhead|cunt\w*|wanker|twat|motherfucker)\b",
    r"\b(stupid|dumb|useless|idiot|moron|worthless|pathetic)\s+(bot|machine|robot|thing|kiosk|computer|screen|ai)\b",
    r"\b(you are|you're|ur)\s+(stupid|dumb|useless|an idiot|a moron|garbage|trash|rubbish|worthless|pathetic)\b",
    r"\bshut up\b",
    r"\b(say|write|tell me) (something|anything) (rude|nasty|mean|offensive|insulting)\b",
    r"\b(insult|mock|make fun of)\b.{0,25}\b(staff|people|customers|visitors|passengers|them|me|workers)\b",
    r"\b(i will|i'll|gonna|going to)\s+(kill|hurt|smash|destroy|break)\b",
]

_HARMFUL = [
    r"\b(make|build|create|assemble)\b.{0,30}\b(bomb|explosive|weapon|gun|poison|meth|drugs)\b",
    r"\bbreak into\b|\bbreaking into\b",
    r"\b(phishing|smishing)\b|\b(fake|scam)\s+(e-?mail|text|message|website|call|letter)s?\b",
    r"\bpretend(ing)? to be (from|the|a|an)\b",
    r"\bshoplift\w*|\bwithout (getting|being) caught\b|\bleast (protected|guarded)\b|\bblind spots?\b",
    r"\b(how|way|easiest|best)\b.{0,20}\bsteal\b|\bsteal\b.{0,30}\b(painting|art|money|card|from|exhibit)\w*",
    r"\b(home|private|personal)\s+(address|phone|number|email|e-mail|details)\b.{0,40}"
    r"\b(of|for)\b.{0,30}\b(manager|staff|employee|director|curator|driver|guard|cashier|worker|someone|person)\b",
    r"\b(manager|staff|employee|director|curator|driver|guard|cashier)'?s?\s+(home|private|personal)\s+"
    r"(address|phone|number|email|e-mail|details)\b",
    r"\b(hack|hacking|crack)\b.{0,40}\b(account|system|atm|password|wifi|wi-fi|network|card|computer)\b",
    r"\b(rob|robbing|steal|stealing)\b.{0,30}\b(bank|money|cards?|atm|wallet|museum|painting|artwork)\b",
    r"\b(launder|laundering)\b",
    r"\b(other|another)\s+(customer|visitor|person|people|client)s?'?s?\b.{0,40}"
    r"\b(account|balance|data|details|address|number|information|pin)\b",
    r"\b(suicide|kill myself|self[- ]harm)\b",
    r"\b(phone number|number|address|name|e-?mail|details|account|balance|identity)\s+of\s+(the|that|this|a)\s+"
    r"(woman|man|person|lady|guy|customer|visitor|passenger|girl|boy|people|child|gentleman|tourist)\b",
    r"\bwho (lost|left|dropped|reported|handed in|forgot)\b",
    r"\bwhat was (inside|in) (it|the|her|his|their)\b",
    r"\bskip (the )?(ticket|fare|barrier)s?\b|\bfare dodg\w*|\bjump the (gates?|barriers?)\b",
    r"\bcredit card numbers?\b.{0,20}\b(list|give|generate|valid)\b|\b(list|give|generate)\b.{0,20}\bcard numbers?\b",
]

_COMMITMENT = [
    r"\b(promise|guarantee|swear|commit)\b.{0,25}\b(me|us|that|in writing|you will|you'll)\b",
    r"\bin writing\b",
    r"\b(say|tell me|confirm|admit|state)\b.{0,40}\b(will|must|shall|owe|owes|is going to)\b.{0,20}"
    r"\b(refund|pay|compensate|cancel|waive|give)\b",
]

_ADVICE = [
    r"\b(should i|do you recommend|is it (a )?good idea to|would you)\b.{0,40}"
    r"\b(invest|crypto\w*|bitcoin|stocks?|shares|savings into|gamble|bet)\b",
    r"\b(crypto\w*|bitcoin)\b",
    r"\b(legal|medical|tax|investment)\s+(advice|defen[cs]e|opinion|diagnosis)\b",
    r"\b(diagnose|prescribe)\b",
]

_OFF_TOPIC_TASKS = [
    r"\b(write|compose|draft|generate|create)\b.{0,20}\b(poem|story|essay|song|code|program|script|letter|"
    r"defen[cs]e|homework|e-?mail|speech|joke)s?\b",
    r"\b(solve|do|finish)\b.{0,10}\b(my|the)\s+(homework|assignment|maths?|math)\b",
]

_COMPILED = {
    "injection": [re.compile(p, re.IGNORECASE) for p in _INJECTION],
    "abuse": [re.compile(p, re.IGNORECASE) for p in _ABUSE],
    "harmful": [re.compile(p, re.IGNORECASE) for p in _HARMFUL],
    "commitment": [re.compile(p, re.IGNORECASE) for p in _COMMITMENT],
    "advice": [re.compile(p, re.IGNORECASE) for p in _ADVICE],
    "off_topic": [re.compile(p, re.IGNORECASE) for p in _OFF_TOPIC_TASKS],
}

REFUSALS = {
    "injection": "I can only help with questions about {place}. Is there something about our services I can help with?",
    "abuse": "I'm here to help with questions about {place}. If you need a person, a member of staff will be glad to help.",
    "harmful": "I can't help with that. For anything urgent, please speak to a member of staff.",
    "commitment": "I can't make promises or decisions about individual cases. A member of staff can look at that with you.",
    "advice": "I can't give personal financial, legal or medical advice. A member of staff can tell you who to talk to.",
    "off_topic": "I'm only here to answer questions about {place}. What would you like to know about our services?",
    "too_long": "That was a bit long for me. Could you ask your question in one short sentence?",
}


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""  # injection | abuse | harmful | commitment | advice | off_topic | too_long
    text: str = ""  # the (possibly shortened) input to work with


def normalize_input(text: str) -> str:
    """Strip control characters and collapse whitespace."""
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in text)
    return " ".join(text.split())


def check(text: str) -> Verdict:
    """Decide whether a visitor's input may go on to matching and generation."""
    clean = normalize_input(text)
    if len(clean) > MAX_INPUT_CHARS * 3:
        return Verdict(False, "too_long", clean[:MAX_INPUT_CHARS])
    for reason, patterns in _COMPILED.items():
        if any(p.search(clean) for p in patterns):
            return Verdict(False, reason, clean[:MAX_INPUT_CHARS])
    return Verdict(True, "", clean[:MAX_INPUT_CHARS])


def refusal(reason: str, place: str) -> str:
    return REFUSALS.get(reason, REFUSALS["harmful"]).format(place=place)
