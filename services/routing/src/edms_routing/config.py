"""Routing settings (prefix EDMS_ROUTING_)."""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class RoutingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDMS_ROUTING_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8102
    #: A directory of route templates (*.yaml) in place of the ones shipped; validated at start.
    templates: Path | None = None
    #: The organization's time zone: every "today" of routing's rules.
    timezone: str = "Europe/Moscow"
