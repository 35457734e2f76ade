"""The fleet: one central server (PostgreSQL) that publishes knowledge to many offline-first kiosks.

Server side: :mod:`fleet.schema` (migrations), :mod:`fleet.store` (queries), :mod:`fleet.server` (the
kiosks' HTTP API). Kiosk side: :mod:`fleet.agent` (join, sync), :mod:`fleet.outbox` (turns not yet
shipped), :mod:`fleet.local` (the credential and what was applied). :mod:`fleet.protocol` is what
both sides share.
"""
