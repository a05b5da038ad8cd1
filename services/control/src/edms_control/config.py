"""Control settings (prefix EDMS_CONTROL_)."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class ControlSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDMS_CONTROL_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8103
