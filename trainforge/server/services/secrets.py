"""The workspace key vault: named secrets, whose values only ``get`` returns.

Values are sealed at rest with the server's secrets key (``cryptography``'s Fernet:
AES-128-CBC with an HMAC-SHA256), kept in ``secrets.key`` in the server's home, never in
the database; a copy of the database alone gives no secret away.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from trainforge.server.errors import NotFound
from trainforge.server.store import models
from trainforge.server.store.models import utcnow

SEALED = "fernet:"


class Vault:
    """Seals and opens stored values with one key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, value: str) -> str:
        return SEALED + self._fernet.encrypt(value.encode()).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(SEALED):
            return stored  # written before sealing; ``seal_plaintext`` seals it at start
        try:
            return self._fernet.decrypt(stored[len(SEALED) :].encode()).decode()
        except InvalidToken:
            raise RuntimeError(
                "A stored secret does not open with this server's secrets key"
            ) from None

    def seal_plaintext(self, db: Session) -> int:
        """Seal the values stored before sealing (secrets, datastore credentials)."""
        count = 0
        for secret in db.scalars(select(models.Secret)):
            if not secret.value.startswith(SEALED):
                secret.value, count = self.seal(secret.value), count + 1
        for store in db.scalars(select(models.Datastore)):
            if store.credentials is not None and not store.credentials.startswith(SEALED):
                store.credentials, count = self.seal(store.credentials), count + 1
        return count


def set_secret(
    db: Session, vault: Vault, ws: models.Workspace, name: str, value: str, content_type: str
) -> None:
    row = db.get(models.Secret, (ws.id, name))
    sealed = vault.seal(value)
    if row is None:
        db.add(
            models.Secret(workspace_id=ws.id, name=name, value=sealed, content_type=content_type)
        )
    else:
        row.value, row.content_type, row.updated = sealed, content_type, utcnow()


def _row(db: Session, ws: models.Workspace, name: str) -> models.Secret:
    row = db.get(models.Secret, (ws.id, name))
    if row is None:
        raise NotFound(f"Secret {name!r} not found in the key vault of workspace {ws.name!r}")
    return row


def get_secret(db: Session, vault: Vault, ws: models.Workspace, name: str) -> tuple[str, str]:
    """The secret's value and content type."""
    row = _row(db, ws, name)
    return vault.open(row.value), row.content_type


def list_secrets(db: Session, ws: models.Workspace) -> list[str]:
    query = select(models.Secret.name).where(models.Secret.workspace_id == ws.id)
    return list(db.scalars(query.order_by(models.Secret.name)))


def delete_secret(db: Session, ws: models.Workspace, name: str) -> None:
    db.delete(_row(db, ws, name))
