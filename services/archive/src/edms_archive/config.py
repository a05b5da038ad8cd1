"""Archive settings (prefix EDMS_ARCHIVE_; the blob store's URL is the platform's EDMS_BLOB_URL)."""

from datetime import date

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ArchiveSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDMS_ARCHIVE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8105
    #: Fixes the date the archive takes as today (retention, transfer windows, acts): for training and for tests
    #: that need cases closed years ago. Unset: the system clock.
    today: date | None = None
    #: Where the files' bytes are: unset means the local directory `EDMS_DATA_DIR/blobs` the registry writes.
    blob_url: str | None = Field(default=None, validation_alias=AliasChoices("EDMS_BLOB_URL", "EDMS_ARCHIVE_BLOB_URL"))
    #: A TrueType font with Cyrillic for inventories as PDF (Debian's fonts-dejavu-core).
    pdf_font: str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
