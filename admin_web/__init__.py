"""The operators' web app: FAQs, imports, conversation logs, analytics, settings.

Never imports Qt.
"""
