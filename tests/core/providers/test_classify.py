"""Rule-based classification: task types and tiers, and reading a classifier model's answer."""

from __future__ import annotations

import pytest

from nexus_core.routing.classify import TaskType, Tier, classify, parse_label


@pytest.mark.parametrize(("query", "task"), [
    ("hi there, how are you?", TaskType.CHAT),
    ("Write a Python function that reverses a list", TaskType.CODE_GENERATION),
    ("Fix this bug:\n```js\nlet x = ;\n```", TaskType.CODE_GENERATION),
    ("Solve the equation 3x + 5 = 20", TaskType.MATH),
    ("what is 17 * 23", TaskType.MATH),
    ("Translate 'good morning' into French", TaskType.TRANSLATION),
    ("Summarize this article in three sentences", TaskType.SUMMARIZATION),
    ("Classify the sentiment of this review", TaskType.CLASSIFICATION),
    ("Why is the sky blue? Explain", TaskType.REASONING),
    ("Build a module that integrates with the Spotify API", TaskType.BUILD_MODULE),
    ("Build me a Clash Royale stats tracker", TaskType.BUILD_MODULE),
    ("make an integration for Todoist", TaskType.BUILD_MODULE),
    ("track my Steam playtime", TaskType.BUILD_MODULE),
    ("build me a website about cats", TaskType.CHAT),
])
def test_task_types(query: str, task: TaskType) -> None:
    result = classify(query)
    assert result.task_type is task
    assert result.reason


def test_tiers_grow_with_difficulty_and_length() -> None:
    assert classify("hello").tier is Tier.STANDARD
    assert classify("Write a python function to add two numbers").tier is Tier.HEAVY
    assert classify("Prove rigorously that there are infinitely many primes").tier is Tier.ULTRA
    assert classify("tell me a story " * 500).tier is Tier.ULTRA
    assert classify("Build an integration module for the GitHub API").tier in (Tier.HEAVY, Tier.ULTRA)
    # earlier turns make a conversation heavier, but count less than the question itself
    assert classify("hello", history_chars=8000).tier is Tier.HEAVY


@pytest.mark.parametrize(("answer", "task"), [
    ("code_generation", TaskType.CODE_GENERATION),
    ("Code generation.", TaskType.CODE_GENERATION),
    ("  MATH\n", TaskType.MATH),
    ("The label is: translation", TaskType.TRANSLATION),
    ("banana", None),
])
def test_parse_classifier_label(answer: str, task: TaskType | None) -> None:
    assert parse_label(answer) is task
