"""FAQ store in SQLite (sqlite-utils), the Chroma index derived from it, importers and retrieval.

Never calls the LLM.
"""
