"""The registration-prompt service: the pure prompt core (:mod:`pensionx.core.prompts`) run as a
Faust stream processor. :mod:`services.prompts.topology` declares it on an app;
:mod:`services.prompts.worker` is the process entry point (``python -m services.prompts.worker``).
"""

from services.prompts.topology import (
    PromptService,
    PromptServiceOptions,
    build_prompt_service,
    expectation,
    facts_topic_name,
    input_topics,
)

__all__ = [
    "PromptService",
    "PromptServiceOptions",
    "build_prompt_service",
    "expectation",
    "facts_topic_name",
    "input_topics",
]
