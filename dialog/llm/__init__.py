"""LLM engines: one interface (:mod:`dialog.llm.base`), one module per engine."""
