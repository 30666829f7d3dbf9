"""Extract: a file of the drop from the landing folder, its checksum, and its CSV records (or line rejects)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from flightdeck.core.compose import Connection, scalar
from flightdeck.core.connections import folder_path
from flightdeck.sources.reference.config import ReferenceConfig


def landing_folder(reference: ReferenceConfig) -> Path:
    """Where the drop lands: the reference connection's folder, else the configured local folder."""
    return folder_path(reference.conn_id, reference.landing_path())


def csv_columns(model: type[BaseModel]) -> list[str]:
    """The CSV header columns a model reads: each field's source name (its alias) or its own name."""
    columns: list[str] = []
    for name, info in model.model_fields.items():
        alias = info.validation_alias
        columns.append(alias if isinstance(alias, str) else name)
    return columns


def last_loaded_checksum(conn: Connection, file_name: str) -> str | None:
    """The checksum of the last file loaded under this name (a drop with the same content is skipped)."""
    value = scalar(
        conn,
        "SELECT sha256 FROM audit.file_loads WHERE file_name = %s AND status = 'loaded' "
        "ORDER BY file_load_id DESC LIMIT 1",
        (file_name,),
    )
    return str(value) if value is not None else None
