"""Answer policy (faq / generated / clarify / fallback / smalltalk), LLM engines, guardrails, turn logging.

Never touches Qt.
"""
