"""Registry settings (prefix EDMS_REGISTRY_)."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class RegistrySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDMS_REGISTRY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8101
    #: Registration dates are dates of the organization's time zone, not of UTC.
    timezone: str = "Europe/Moscow"
    max_attachment_bytes: int = 50 * 1024 * 1024
