"""The store's tables (SQLAlchemy 2). Alembic migrations in admin/migrations/ create them.

users, roles, roles_users     people, their roles (Flask-Security-Too's models)
login_throttle                failed sign-ins for emails no user has (admin/lockout.py)
api_tokens                    machine tokens: scoped, revocable, stored as sha256 only
payers                        who we send requests to, and how
documents                     a ruleset or a form, by kind and id (`acme-commercial`)
document_versions             its versions: draft -> in-review -> published -> retired
audit_events                  the append-only, hash-chained trail of every change
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from flask_security.models.sqla import FsModels, FsRoleMixin, FsUserMixin, FsWebAuthnMixin
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and read back timezone-aware, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


FsModels.set_db_info(base_model=Base, user_table_name="users", role_table_name="roles")  # type: ignore[no-untyped-call]

ROLES = {
    "analyst": "edits ruleset, value set and form drafts; tries and backtests them",
    "reviewer": "reviews and publishes versions, retires and rolls back",
    "coordinator": "works cases and fills readiness forms",
    "it": "pushes versions from files, manages API tokens",
    "manager": "sees reports",
    "admin": "manages users and roles",
}
STATUSES = ("draft", "in-review", "published", "retired")
KINDS = ("ruleset", "form", "template")


class Role(Base, FsRoleMixin):
    __tablename__ = "roles"


class User(Base, FsUserMixin):
    __tablename__ = "users"
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # -- users, roles, security (admin/auth.py, admin/lockout.py) --
    failed_since: Mapped[datetime | None] = mapped_column(UTCDateTime())  # first failure of the window
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    tf_last_counter: Mapped[int | None] = mapped_column(Integer)  # last TOTP step used: no replays
    # -- end --
    # the practice this person works for: they see its cases only (admin/models_cases.py)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))

    def __str__(self) -> str:
        return self.email


class LoginThrottle(Base):
    """Failed sign-ins for an email no user has, keyed by a keyed hash of the email (never the
    email itself: people type passwords into the email box). Counted like a user's, so a locked
    unknown email looks exactly like a locked account."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebAuthn(Base, FsWebAuthnMixin):
    """Security keys (Flask-Security-Too's model; the table exists so its User model maps)."""

    __tablename__ = "webauthn"


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in lists so people can tell tokens apart
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
    user: Mapped[User] = relationship()


class Payer(Base):
    __tablename__ = "payers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the slug rulesets name
    name: Mapped[str] = mapped_column(String(200))
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    fax_number: Mapped[str | None] = mapped_column(String(32))
    portal_name: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": lock_version}  # noqa: RUF012 (the SQLAlchemy idiom)

    def __str__(self) -> str:
        return self.name


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("kind", "slug"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # ruleset | form | template (a packet template)
    slug: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300), default="")
    payer_id: Mapped[str | None] = mapped_column(String(64))  # rulesets: the payer they name
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    versions: Mapped[list[DocumentVersion]] = relationship(
        back_populates="document", order_by="DocumentVersion.id"
    )

    def __str__(self) -> str:
        return f"{self.kind} {self.slug}"


class DocumentVersion(Base):
    __tablename__ = "document_versions"
    __table_args__ = (UniqueConstraint("document_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    version: Mapped[int | None] = mapped_column()  # set when published; a draft has none yet
    status: Mapped[str] = mapped_column(String(16), default="draft")
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))  # of the canonical text of the document
    effective_from: Mapped[date | None] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(300), default="")  # file name, "editor", "rollback of v3"
    based_on_id: Mapped[int | None] = mapped_column(ForeignKey("document_versions.id"))
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by: Mapped[str | None] = mapped_column(String(255))
    published_at: Mapped[datetime | None] = mapped_column()
    retired_at: Mapped[datetime | None] = mapped_column()
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    document: Mapped[Document] = relationship(back_populates="versions")
    __mapper_args__ = {"version_id_col": lock_version}  # noqa: RUF012 (the SQLAlchemy idiom)

    def __str__(self) -> str:
        number = f"v{self.version}" if self.version is not None else f"draft #{self.id}"
        return f"{self.document.slug} {number} ({self.status})"


class AuditEvent(Base):
    """One change. Rows are never updated or deleted (database triggers refuse it), and each
    row's hash covers the previous row's hash, so an edited or removed row breaks the chain."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_entity", "entity_type", "entity_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(200))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)  # one successor per row
    hash: Mapped[str] = mapped_column(String(64), unique=True)


# the case tables live in their own module; importing it here puts them in Base.metadata
from admin import models_cases, models_packets  # noqa: E402,F401
