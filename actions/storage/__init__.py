"""Storage of consent records and intake data: models, sessions, encryption, migrations.

No rasa or rasa-sdk imports, and nothing is read or connected at import time. Personal fields
are encrypted at rest (`crypto`, `models.EncryptedText`), people are known only by a keyed
pseudonymous id (`crypto.person_id`), and the schema is created by Alembic (`migrate`).
"""
