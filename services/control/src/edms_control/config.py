"""Control settings (prefix EDMS_CONTROL_)."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ControlSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDMS_CONTROL_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8103
    #: "Due soon" reminders go out this many working days before the deadline.
    due_soon_days: int = 2
    #: Seconds between two looks for reminders due.
    reminder_seconds: float = 5.0
    #: An administrator may set the control clock (PUT /clock): tests and training only, never in production.
    clock_settable: bool = False
    #: Who consumes control's topics: the HTTP process's own backbone consumer (`backbone`), or a faust worker
    #: process of its own (`faust`: `python -m edms_control.worker`, started beside the service).
    consumer: str = Field(default="backbone", pattern="^(backbone|faust)$")
