"""Rule-based query classification: what kind of task a query is, and how heavy a model it needs.

The rules are cheap, explainable (each decision carries its reason) and good enough to route; an
optional local classifier model can refine the task type (see ``router.Router``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class TaskType(StrEnum):
    CHAT = "chat"
    CODE_GENERATION = "code_generation"
    REASONING = "reasoning"
    MATH = "math"
    TRANSLATION = "translation"
    SUMMARIZATION = "summarization"
    CLASSIFICATION = "classification"
    BUILD_MODULE = "build_module"


class Tier(StrEnum):
    STANDARD = "standard"
    HEAVY = "heavy"
    ULTRA = "ultra"


TASK_LABELS = {
    TaskType.CHAT: "Chat",
    TaskType.CODE_GENERATION: "Code generation",
    TaskType.REASONING: "Reasoning",
    TaskType.MATH: "Math",
    TaskType.TRANSLATION: "Translation",
    TaskType.SUMMARIZATION: "Summarization",
    TaskType.CLASSIFICATION: "Classification",
    TaskType.BUILD_MODULE: "Build a module",
}


@dataclass(frozen=True)
class Classification:
    task_type: TaskType
    tier: Tier
    reason: str
    source: str = "rules"  # "rules" or "classifier"


def _rx(*words: str) -> re.Pattern[str]:
    return re.compile(r"(?i)(?:" + "|".join(words) + r")")


# Order matters: the first matching rule wins.
_RULES: list[tuple[TaskType, re.Pattern[str], str]] = [
    (TaskType.BUILD_MODULE, _rx(r"\b(?:build|create|make|write|generate|add)\b[^.?!\n]{0,40}\b(?:module|integration|"
                                r"adapter|connector|plugin)\b", r"\bintegrate (?:with )?(?:the )?\w+ api\b",
                                r"\bbuild me an?\b[^.?!\n]{0,60}\b(?:tracker|tool|bot|feed|monitor|lookup|stats|"
                                r"dashboard|client)\b", r"\btrack my\b"),
     "asks to build an integration module"),
    (TaskType.TRANSLATION, _rx(r"\btranslat\w*\b", r"\bin(?:to)? (?:english|french|german|spanish|italian|"
                               r"portuguese|chinese|japanese|korean|russian|arabic|dutch|polish|hindi|turkish)\b"
                               r"(?=[\s\S]*[:\"'])", r"\bhow do (?:you|i) say\b"),
     "asks for a translation"),
    (TaskType.CODE_GENERATION, _rx(r"```", r"\b(?:python|javascript|typescript|rust|golang|java|c\+\+|c#|sql|bash|"
                                   r"regex|html|css|kotlin|swift)\b", r"\b(?:function|class|method|script|"
                                   r"snippet|refactor|debug|compile|stack ?trace|unit tests?|api endpoint)\b",
                                   r"\bwrite (?:a |some )?code\b", r"\bfix (?:this|the|my) (?:bug|error|code)\b"),
     "mentions code or a programming language"),
    (TaskType.MATH, _rx(r"\b(?:solve|integrate|derivative|differentiate|equation|integral|matrix|eigen\w*|"
                        r"probability|theorem|lemma|primes?|prove|proof|factori[sz]e|calculate|compute)\b",
                        r"\d+\s*[-+*/^×÷]\s*\d+", r"\bhow much is\b"),
     "has a calculation or math words"),
    (TaskType.SUMMARIZATION, _rx(r"\bsummari[sz]\w*\b", r"\btl;?dr\b", r"\bkey points\b", r"\bin (?:a few|one|two|"
                                 r"three) sentences?\b"),
     "asks for a summary"),
    (TaskType.CLASSIFICATION, _rx(r"\bclassify\b", r"\bcategori[sz]e\b", r"\bsentiment\b", r"\bwhich category\b",
                                  r"\blabel (?:this|these|each)\b", r"\bis this (?:spam|positive|negative)\b"),
     "asks to classify or label"),
    (TaskType.REASONING, _rx(r"\bwhy\b", r"\bexplain\b", r"\bcompare\b", r"\banaly[sz]\w*\b", r"\bpros and cons\b",
                             r"\btrade-?offs?\b", r"\bstep by step\b", r"\breason\w*\b", r"\bplan\b",
                             r"\bshould (?:i|we)\b", r"\bwhat (?:would|will) happen\b", r"\bevaluate\b"),
     "asks for explanation, analysis or a decision"),
]

_ULTRA_WORDS = _rx(r"\b(?:prove|proof|formally|rigorous\w*|in depth|comprehensive\w*|end-to-end|architecture|"
                   r"design (?:a|the) system|research|thorough\w*)\b")
_HEAVY_TASKS = {TaskType.CODE_GENERATION, TaskType.REASONING, TaskType.MATH, TaskType.BUILD_MODULE}


def classify(query: str, *, history_chars: int = 0) -> Classification:
    """Task type by the first matching rule (else chat); tier by task, length and difficulty words."""
    text = query.strip()
    task, why = TaskType.CHAT, "no specific task words"
    for candidate, pattern, reason in _RULES:
        if pattern.search(text):
            task, why = candidate, reason
            break
    return Classification(task, tier_for(task, text, history_chars=history_chars), why)


def tier_for(task: TaskType, text: str, *, history_chars: int = 0) -> Tier:
    size = len(text) + history_chars // 4  # earlier turns count, but less than the question itself
    if task is TaskType.BUILD_MODULE:
        return Tier.ULTRA if size > 1500 or _ULTRA_WORDS.search(text) else Tier.HEAVY
    if _ULTRA_WORDS.search(text) and (task in _HEAVY_TASKS or size > 600):
        return Tier.ULTRA
    if size > 6000:
        return Tier.ULTRA
    if task in _HEAVY_TASKS and (size > 200 or task is not TaskType.REASONING):
        return Tier.HEAVY
    if size > 1500:
        return Tier.HEAVY
    return Tier.STANDARD


def parse_label(answer: str) -> TaskType | None:
    """Read a classifier model's one-word answer ("code_generation", "Code generation", …)."""
    cleaned = re.sub(r"[^a-z_ ]", "", answer.strip().lower()).replace(" ", "_")
    for task in TaskType:
        if cleaned == task.value or cleaned.startswith(task.value):
            return task
    for task in TaskType:
        if task.value in cleaned:
            return task
    return None
