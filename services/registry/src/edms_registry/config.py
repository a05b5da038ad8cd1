"""Registry settings (prefix EDMS_REGISTRY_)."""

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RegistrySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDMS_REGISTRY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8101
    #: Registration dates and every "today" of a check are dates of the organization's time zone, not of UTC.
    timezone: str = "Europe/Moscow"
    #: The largest attachment accepted (bytes); a larger one is refused with 413 and nothing is kept.
    max_attachment_bytes: int = 100 * 1024 * 1024
    #: Where the files' bytes are: unset, the local directory `EDMS_DATA_DIR/blobs`; `s3://bucket?endpoint=…` for an
    #: S3-compatible store (edms_runtime.blobs).
    blob_url: str | None = Field(default=None, validation_alias=AliasChoices("EDMS_BLOB_URL", "EDMS_REGISTRY_BLOB_URL"))
    #: Text kept of one attachment for search (characters; the contract carries it in chunks of 65536).
    extraction_max_chars: int = 4 * 1024 * 1024
    #: A file whose text takes longer to extract is recorded as failed (its extracting process is ended).
    extraction_timeout_seconds: float = 120.0
    #: Address space the extracting process may take (MB): a decompression bomb fails there, recorded as unreadable.
    extraction_memory_mb: int = 1024
    #: The restriction marks a card may carry (JSON list in EDMS_REGISTRY_RESTRICTION_MARKS).
    restriction_marks: list[str] = ["ДСП"]
