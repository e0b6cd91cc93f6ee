"""The OpenAPI 3.1 document of /api/ (served at /api/openapi.json; tests validate it)."""

from __future__ import annotations

from typing import Any

from admin.tokens import SCOPES

_ERRORS = {
    "description": "What is wrong, each with where (file, line) and how to fix it",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}},
}


def _responses(ok: str, schema: str, *codes: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "200": {
            "description": ok,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        },
        "401": {**_ERRORS, "description": "No token, or an unknown, revoked or expired one"},
        "403": {**_ERRORS, "description": "The token lacks the scope this route needs"},
    }
    for code in codes:
        out[str(code)] = _ERRORS
    return out


def _documents(plural: str) -> dict[str, Any]:
    kind = plural[:-1]
    read, write, publish = (f"{plural}.{s}" for s in ("read", "write", "publish"))
    slug = {
        "name": "slug",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": f"the {kind} id",
    }
    vid = {"name": "version_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    paths: dict[str, Any] = {
        f"/api/{plural}": {
            "get": {
                "summary": f"Every stored {kind} version",
                "operationId": f"list_{plural}",
                "security": [{"token": [read]}],
                "responses": _responses("The versions", "VersionList"),
            }
        },
        f"/api/{plural}/{{slug}}": {
            "get": {
                "summary": f"The versions of one {kind}",
                "operationId": f"get_{plural}",
                "parameters": [slug],
                "security": [{"token": [read]}],
                "responses": _responses("Its versions", "VersionList", 404),
            }
        },
        f"/api/{plural}/{{slug}}/versions/{{number}}": {
            "get": {
                "summary": f"One published (or retired) {kind} version, with its text",
                "operationId": f"get_{plural}_version",
                "parameters": [
                    slug,
                    {"name": "number", "in": "path", "required": True, "schema": {"type": "integer"}},
                ],
                "security": [{"token": [read]}],
                "responses": _responses("The version", "Version", 404),
            }
        },
        f"/api/{plural}/push": {
            "post": {
                "summary": f"Store {plural} from files as drafts (and publish them): all or nothing",
                "description": f"Needs `{write}`, and `{publish}` with `publish: true`. One bad file: 422 and nothing changes.",
                "operationId": f"push_{plural}",
                "security": [{"token": [write]}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Push"}}},
                },
                "responses": _responses("What happened to each file", "PushResults", 400, 413, 415, 422),
            }
        },
    }
    for action, scope in (("submit", write), ("publish", publish), ("retire", publish)):
        paths[f"/api/{plural}/versions/{{version_id}}/{action}"] = {
            "post": {
                "summary": f"{action.capitalize()} a {kind} version",
                "operationId": f"{action}_{plural}",
                "parameters": [vid],
                "security": [{"token": [scope]}],
                "responses": _responses("The version after the change", "Version", 404, 409, 422),
            }
        }
    return paths


def _usage() -> dict[str, Any]:
    reference = {"name": "reference", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "get": {
            "summary": "The utilization meter of one case: approved, used, remaining, per month, entries",
            "operationId": "get_usage",
            "parameters": [reference],
            "security": [{"token": ["cases.read"]}],
            "responses": _responses("The meter", "Usage", 404),
        },
        "post": {
            "summary": "Record units used on a day against the case's approval (docs/usage.md)",
            "description": "Refused (422) unless the case is approved or partially approved, and for a "
            "date after today or outside the approval. With a `claim_id`, the same claim line sent "
            "again is counted once: 200 with `already_recorded: true`.",
            "operationId": "record_usage",
            "parameters": [reference],
            "security": [{"token": ["cases.write"]}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/UsageRecord"}}},
            },
            "responses": {
                **_responses("Already recorded: nothing changed", "UsageRecorded", 400, 404, 409, 415, 422),
                "201": {
                    "description": "Recorded; the meter after it",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/UsageRecorded"}}
                    },
                },
            },
        },
    }


def _usage_schemas() -> dict[str, Any]:
    return {
        "UsageRecord": {
            "type": "object",
            "required": ["on", "units"],
            "additionalProperties": False,
            "properties": {
                "on": {"type": "string", "format": "date", "description": "the date of the service"},
                "units": {"type": "integer", "minimum": 1, "description": "units or visits used"},
                "claim_id": {"type": ["string", "null"], "maxLength": 64, "description": "one claim line"},
                "code": {"type": ["string", "null"], "maxLength": 16, "description": "the service code"},
            },
        },
        "Usage": {
            "type": "object",
            "properties": {
                "reference": {"type": "string"},
                "approved": {"type": ["integer", "null"]},
                "used": {"type": "integer"},
                "remaining": {"type": ["integer", "null"], "description": "never below 0: see `over`"},
                "over": {"type": "integer", "description": "units used beyond the approved ones"},
                "percent": {"type": ["integer", "null"], "description": "used as a whole % of approved"},
                "renewal_at": {"type": ["integer", "null"], "description": "used units that start renewal"},
                "from": {"type": ["string", "null"], "format": "date"},
                "to": {"type": ["string", "null"], "format": "date"},
                "months": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"month": {"type": "string"}, "units": {"type": "integer"}},
                    },
                },
                "entries": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "on": {"type": "string", "format": "date"},
                            "units": {"type": "integer"},
                            "source": {"enum": ["hand", "api", "claims"]},
                            "claim_id": {"type": ["string", "null"]},
                            "code": {"type": ["string", "null"]},
                            "recorded_by": {"type": "string"},
                            "recorded_at": {"type": "string", "format": "date-time"},
                        },
                    },
                },
            },
        },
        "UsageRecorded": {
            "type": "object",
            "properties": {
                "recorded": {"type": "boolean"},
                "already_recorded": {"type": "boolean"},
                "warnings": {"type": "array", "items": {"$ref": "#/components/schemas/Error"}},
                "usage": {"$ref": "#/components/schemas/Usage"},
            },
        },
    }


def document() -> dict[str, Any]:
    version_props = {
        "version_id": {"type": "integer"},
        "id": {"type": "string"},
        "version": {"type": ["integer", "null"]},
        "status": {"enum": ["draft", "in-review", "published", "retired"]},
        "sha256": {"type": "string"},
        "effective_from": {"type": ["string", "null"], "format": "date"},
        "effective_to": {"type": ["string", "null"], "format": "date"},
        "updated_by": {"type": "string"},
        "updated_at": {"type": "string", "format": "date-time"},
        "published_at": {"type": ["string", "null"], "format": "date-time"},
        "text": {"type": "string", "description": "the YAML text (single-version responses only)"},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "priorauth API",
            "version": "1",
            "description": "Push, publish and read payer rulesets, readiness forms and packet templates; "
            "evaluate case facts. "
            "Every call needs `Authorization: Bearer <token>` with the scope the route names.",
        },
        "servers": [{"url": "/"}],
        "paths": {
            **_documents("rulesets"),
            **_documents("forms"),
            **_documents("templates"),
            "/api/cases": {
                "post": {
                    "summary": "Create a case from its facts or from a FHIR R4 Bundle; it is evaluated at once",
                    "operationId": "create_case",
                    "security": [{"token": ["cases.write"]}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "description": "case facts (docs/facts.md) or a FHIR R4 Bundle (docs/intake.md)",
                                }
                            }
                        },
                    },
                    "responses": {
                        **_responses("The case", "Case", 400, 415, 422),
                        "201": {
                            "description": "The new case, with its stage, next action and decision",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Case"}}
                            },
                        },
                    },
                }
            },
            "/api/cases/{reference}": {
                "get": {
                    "summary": "One case of the token's organization",
                    "operationId": "get_case",
                    "parameters": [
                        {"name": "reference", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "security": [{"token": ["cases.read"]}],
                    "responses": _responses("The case", "Case", 404),
                }
            },
            "/api/cases/{reference}/usage": _usage(),
            "/api/evaluate": {
                "post": {
                    "summary": "Decide one case against what is published",
                    "operationId": "evaluate",
                    "security": [{"token": ["cases.evaluate"]}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"type": "object", "description": "case facts (docs/facts.md)"}
                            }
                        },
                    },
                    "responses": _responses(
                        "The decision (spec: rulesets.md, The decision)", "Decision", 400, 415, 422
                    ),
                }
            },
        },
        "components": {
            "securitySchemes": {
                "token": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token made by `priorauth tokens create`; scopes: "
                    + ", ".join(f"`{k}` ({v})" for k, v in SCOPES.items()),
                }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["message"],
                    "properties": {
                        "message": {"type": "string"},
                        "file": {"type": ["string", "null"]},
                        "line": {"type": ["integer", "null"]},
                        "column": {"type": "integer"},
                        "path": {
                            "type": ["string", "null"],
                            "description": "a fact path (evaluate, cases) or a field of the body (usage)",
                        },
                        "fix": {"type": ["string", "null"]},
                    },
                },
                "Errors": {
                    "type": "object",
                    "required": ["errors"],
                    "properties": {
                        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/Error"}}
                    },
                },
                "Version": {"type": "object", "properties": version_props},
                "VersionList": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Version"},
                    },
                },
                "Push": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": 200,
                            "items": {
                                "type": "object",
                                "required": ["name", "text"],
                                "properties": {"name": {"type": "string"}, "text": {"type": "string"}},
                            },
                        },
                        "publish": {"type": "boolean", "default": False},
                    },
                },
                "PushResults": {
                    "type": "object",
                    "properties": {
                        "results": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "file": {"type": "string"},
                                    "id": {"type": "string"},
                                    "outcome": {"enum": ["draft", "published", "unchanged"]},
                                    "version": {"type": ["integer", "null"]},
                                    "version_id": {"type": "integer"},
                                    "replaced": {"type": ["integer", "null"]},
                                },
                            },
                        }
                    },
                },
                "Case": {
                    "type": "object",
                    "properties": {
                        "reference": {"type": "string"},
                        "status": {"type": "string"},
                        "stage": {"type": "string"},
                        "next_action": {"type": "string"},
                        "next_due": {"type": ["string", "null"], "format": "date-time"},
                        "deadlines": {"type": "object"},
                        "approval": {"type": "object"},
                        "facts": {"type": "object"},
                        "decision": {"$ref": "#/components/schemas/Decision"},
                        "warnings": {"type": "array", "items": {"$ref": "#/components/schemas/Error"}},
                    },
                },
                "Decision": {
                    "type": "object",
                    "description": "auth, ruleset, forms, missing, fired... (spec)",
                },
                **_usage_schemas(),
            },
        },
    }
