"""Who the procedure writes to besides the customer: the `[contacts]` section of the config.

The policy names roles ("referral manager", "director", "relevant service manager"); this
section gives them addresses. A role with no address is not written to: the tick logs it and
the case's audit trail and the daily digest still show the case.
"""

from __future__ import annotations

from datetime import time

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["Contacts"]


def _address(value: str) -> str:
    value = value.strip()
    if value and ("@" not in value or " " in value):
        raise ValueError(f"{value!r} is not an email address; write it as name@domain")
    return value.lower()


class Contacts(BaseModel):
    """Addresses of the people the complaints procedure chases, escalates to and informs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    referral_manager: str = Field(
        "",
        description="Chased for an update on open cases (policy reminders.to), unless the "
        "case's own referral manager field holds an address.",
    )
    escalation: str = Field(
        "", description="Told when a case stays open too long (policy reminders.escalate_to)."
    )
    customer_services: str = Field(
        "",
        description="The customer-services team: the daily digest and acknowledgements at "
        "risk of missing their deadline.",
    )
    service_manager: str = Field(
        "",
        description="Gets a copy of compliments when the case's department has no entry in "
        "service_managers.",
    )
    service_managers: dict[str, str] = Field(
        default_factory=dict,
        description="Service manager per department (the case's department field).",
        examples=[{"Housing": "housing.manager@example.org"}],
    )
    digest_at: time = Field(
        time(8, 0),
        description="Local time after which the daily digest goes out, on working days.",
    )
    ack_warning_hours: float = Field(
        24.0,
        ge=0,
        description="Flag an unsent acknowledgement to customer services this many hours "
        "before its deadline (and a failed one at once).",
    )

    @field_validator("referral_manager", "escalation", "customer_services", "service_manager")
    @classmethod
    def _one_address(cls, value: str) -> str:
        return _address(value)

    @field_validator("service_managers")
    @classmethod
    def _addresses(cls, value: dict[str, str]) -> dict[str, str]:
        return {name: _address(address) for name, address in value.items()}

    def service_manager_for(self, department: str) -> str:
        """The address a compliment about `department` is copied to ('' if none)."""
        for name, address in self.service_managers.items():
            if name.casefold() == department.strip().casefold() and address:
                return address
        return self.service_manager
