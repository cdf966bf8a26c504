"""Request and response bodies of the public and operator API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from auth_service.domain.models import CalendarConnection, Employee, ReceptionDevice, Role
from visitor_common.contracts.connections import ConnectionInfo
from visitor_common.email import EmailStr
from visitor_common.events import ConnectionStatus, Provider
from visitor_common.text import SAFE_TEXT

# Every free-text field is SafeText (visitor_common.text): NFC, no control characters, no
# bidirectional overrides, at least one visible character; else a 422 naming the field.
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SAFE_TEXT]
DeviceName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SAFE_TEXT]
Password = Field(min_length=12, max_length=256)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SignInRequest(_In):
    tenant_id: str = Field(min_length=1, max_length=64)
    email: EmailStr
    password: str = Field(min_length=1, max_length=256)


class RefreshRequest(_In):
    refresh_token: str = Field(min_length=1, max_length=512)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    refresh_token: str


class EmployeeIn(_In):
    name: Name
    email: EmailStr
    role: Role = Role.MEMBER
    password: str | None = Field(None, min_length=12, max_length=256)


class EmployeeOut(BaseModel):
    id: str
    tenant_id: str
    name: str
    email: str
    role: Role
    created_at: datetime

    @classmethod
    def of(cls, employee: Employee) -> EmployeeOut:
        return cls(
            id=employee.id,
            tenant_id=employee.tenant_id,
            name=employee.name,
            email=employee.email,
            role=employee.role,
            created_at=employee.created_at,
        )


class TenantIn(_In):
    tenant_id: str | None = Field(None, min_length=3, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: Name
    admin_name: Name
    admin_email: EmailStr
    admin_password: str = Password


class TenantOut(BaseModel):
    tenant_id: str
    name: str
    admin: EmployeeOut


class ReceptionDeviceIn(_In):
    name: DeviceName = Field(description='Where it stands, e.g. "1F lobby".')


class ReceptionDeviceOut(BaseModel):
    device_id: str
    name: str
    client_id: str
    created_at: datetime
    updated_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, device: ReceptionDevice) -> ReceptionDeviceOut:
        return cls(
            device_id=device.id,
            name=device.name,
            client_id=device.client_id,
            created_at=device.created_at,
            updated_at=device.updated_at,
            revoked_at=device.revoked_at,
        )


class RegisteredDeviceOut(ReceptionDeviceOut):
    client_secret: str = Field(description="Shown once; only its hash is stored.")


class ReceptionDevicesOut(BaseModel):
    items: list[ReceptionDeviceOut]


class ReceptionTokenRequest(_In):
    client_id: str = Field(min_length=1, max_length=100)
    client_secret: str = Field(min_length=1, max_length=256)


class ReceptionTokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int


class AuthorizationUrl(BaseModel):
    authorization_url: str


class ConnectionOut(BaseModel):
    connection_id: str
    provider: Provider
    account_email: str
    status: ConnectionStatus
    room_group_id: str | None
    room_selection_required: bool = Field(
        description="True while no building (Google) / room list (Microsoft) is chosen; the "
        "connector's /v1/rooms lists the choices."
    )
    linked_at: datetime

    @classmethod
    def of(cls, connection: CalendarConnection) -> ConnectionOut:
        return cls(
            connection_id=connection.id,
            provider=connection.provider,
            account_email=connection.account_email,
            status=connection.status,
            room_group_id=connection.room_group_id,
            room_selection_required=connection.room_selection_required,
            linked_at=connection.linked_at,
        )


class ConnectionsOut(BaseModel):
    items: list[ConnectionOut]


class UnlinkOut(BaseModel):
    connection: ConnectionOut
    revoked_at_provider: bool
    holds_released: int | None = Field(
        None,
        description="Tentative holds the connector deleted before the grant was revoked; null when "
        "the connector could not be asked (the holds then stay on the calendar).",
    )
    holds_not_released: int = Field(0, description="Holds the connector could not delete.")


class RoomPreferenceIn(_In):
    room_group_id: str = Field(min_length=1, max_length=512)


class LinkResult(BaseModel):
    message: str
    connection: ConnectionOut | None = None


def connection_info(connection: CalendarConnection) -> ConnectionInfo:
    return ConnectionInfo(
        connection_id=connection.id,
        tenant_id=connection.tenant_id,
        employee_id=connection.employee_id,
        provider=connection.provider,
        account_email=connection.account_email,
        status=connection.status,
        room_group_id=connection.room_group_id,
        linked_at=connection.linked_at,
    )
