"""Routing settings (prefix EDMS_ROUTING_)."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class RoutingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDMS_ROUTING_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8102
