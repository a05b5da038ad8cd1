"""Search settings (prefix EDMS_SEARCH_)."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class SearchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDMS_SEARCH_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8104
