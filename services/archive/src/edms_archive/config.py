"""Archive settings (prefix EDMS_ARCHIVE_)."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class ArchiveSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDMS_ARCHIVE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8105
