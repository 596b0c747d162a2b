"""The OpenAPI 3.1 description of the JSON API (findings/api.py), served at /api/schema.

A test checks that it names every API route and that real responses match these schemas.
"""

from findings.detection.selectors import SORTS, STATUSES
from findings.models import Decision, ReviewCycle, Severity


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: dict, *, required: list[str] | None = None, closed: bool = False) -> dict:
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if closed:
        schema["additionalProperties"] = False
    return schema


def json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def error_response(name: str) -> dict:
    return {"$ref": f"#/components/responses/{name}"}


def ok(description: str, schema: dict, status: str = "200") -> dict:
    return {status: {"description": description, "content": json_content(schema)}}


def query(name: str, description: str, schema: dict) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def path_id(name: str, what: str) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The {what}'s id.",
        "schema": {"type": "integer"},
    }


STRING = {"type": "string"}
TEXT_OR_NULL = nullable(STRING)
DATE = {"type": "string", "format": "date"}
DATETIME = {"type": "string", "format": "date-time"}
EMAIL = {"type": "string", "format": "email"}
SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
PAGE = query("page", "Page number, from 1.", {"type": "integer", "minimum": 1})
AUTH_ERRORS = {"401": error_response("Unauthorized"), "403": error_response("Forbidden")}
READ_ERRORS = {
    **AUTH_ERRORS,
    "400": error_response("BadRequest"),
    "405": error_response("MethodNotAllowed"),
}
WRITE_ERRORS = {**READ_ERRORS, "404": error_response("NotFound")}


def paged(item: str) -> dict:
    return obj(
        {
            "results": {"type": "array", "items": ref(item)},
            "count": {"type": "integer", "minimum": 0},
            "next": nullable({"type": "string", "format": "uri"}),
            "previous": nullable({"type": "string", "format": "uri"}),
        },
        required=["results", "count", "next", "previous"],
    )


DECISION = obj(
    {
        "id": {"type": "integer"},
        "item": {"type": "integer"},
        "kind": {"enum": Decision.Kind.values},
        "justification": STRING,
        "expires_on": nullable(DATE),
        "delegate_to": nullable(EMAIL),
        "decided_by": EMAIL,
        "decided_at": DATETIME,
        "supersedes": nullable({"type": "integer", "description": "The decision this replaces."}),
        "bulk": {"type": "boolean"},
    },
    required=["id", "item", "kind", "justification", "decided_by", "decided_at", "supersedes"],
)

CYCLE_SUMMARY = obj(
    {
        "id": {"type": "integer"},
        "kind": {"enum": ReviewCycle.Kind.values},
        "state": {"enum": ReviewCycle.State.values},
        "title": STRING,
        "period": STRING,
        "application": STRING,
        "version": STRING,
        "opened_at": DATETIME,
        "opened_by": nullable(EMAIL),
        "due_on": DATE,
        "overdue": {"type": "boolean"},
        "population_hash": SHA256,
        "population_count": {"type": "integer", "minimum": 0},
        "decided_count": {"type": "integer", "minimum": 0},
        "signed_off_by": nullable(EMAIL),
        "signed_off_at": nullable(DATETIME),
    },
    required=["id", "kind", "state", "title", "due_on", "overdue", "population_hash"],
)

ITEM = obj(
    {
        "id": {"type": "integer"},
        "account": {"type": "string", "description": "12-digit AWS account id"},
        "subject_type": {"enum": ["finding", "user", "role"]},
        "subject_arn": STRING,
        "title": STRING,
        "severity": nullable({"enum": Severity.values}),
        "assignee": nullable(EMAIL),
        "latest_decision": nullable(ref("Decision")),
        "decided": {"type": "boolean", "description": "False while undecided or delegated."},
        "remediation": nullable({"enum": ["pending", "verified"]}),
        "evidence_hash": SHA256,
    },
    required=["id", "account", "subject_type", "subject_arn", "latest_decision", "decided"],
)

CYCLE = {
    "allOf": [
        ref("CycleSummary"),
        obj(
            {
                "attestation": STRING,
                "signed_population_hash": STRING,
                "notes": STRING,
                "unknown_role_arns": {"type": "array", "items": STRING},
                "scope_accounts": {"type": "array", "items": STRING},
                "items": {"type": "array", "items": ref("ReviewItem")},
            },
            required=["attestation", "items"],
        ),
    ]
}

FINDING = obj(
    {
        "id": {"type": "integer"},
        "account": STRING,
        "check": STRING,
        "title": STRING,
        "severity": {"enum": Severity.values},
        "severity_reason": STRING,
        "resource_arn": STRING,
        "resource_type": STRING,
        "resource_name": STRING,
        "status": {"enum": ["open", "resolved", "excluded"]},
        "aws_status": TEXT_OR_NULL,
        "exclusion_reason": TEXT_OR_NULL,
        "first_seen": DATETIME,
        "last_seen": DATETIME,
        "resolved_at": nullable(DATETIME),
        "rule_version": STRING,
        "thresholds": {"type": "object"},
        "evidence": {"type": "object"},
    },
    required=["id", "account", "check", "severity", "resource_arn", "status"],
)

FILE_ENTRY = obj({"sha256": SHA256, "size": {"type": "integer"}}, required=["sha256", "size"])
MANIFEST = obj(
    {
        "cycle_id": {"type": "integer"},
        "cycle_state": {"enum": ReviewCycle.State.values},
        "population_hash": SHA256,
        "population_count": {"type": "integer"},
        "population_hash_matches": {"type": "boolean"},
        "population_hash_method": STRING,
        "item_count": {"type": "integer"},
        "decision_count": {"type": "integer"},
        "generated_at": DATETIME,
        "generator": {"type": "object"},
        "files": {"type": "object", "additionalProperties": FILE_ENTRY},
    },
    required=["cycle_id", "population_hash", "generated_at", "generator", "files"],
)

EVIDENCE_PACK = obj(
    {
        "manifest": ref("Manifest"),
        "cycle": {
            "type": "object",
            "description": "The content of cycle.json: cycle metadata with sign-off, and every "
            "item with its frozen evidence, findings and full decision history.",
            "required": ["cycle", "items"],
        },
        "files": obj(
            {"items.csv": STRING, "decisions.csv": STRING}, required=["items.csv", "decisions.csv"]
        ),
    },
    required=["manifest", "cycle", "files"],
)

RELEASE_REQUEST = obj(
    {
        "application": {"type": "string", "minLength": 1, "maxLength": 200},
        "version": {"type": "string", "minLength": 1, "maxLength": 100},
        "role_arns": {"type": "array", "items": STRING, "minItems": 1, "maxItems": 1000},
        "notes": STRING,
    },
    required=["application", "version", "role_arns"],
    closed=True,
)

DECISION_REQUEST = obj(
    {
        "decision": {"enum": Decision.Kind.values},
        "justification": {
            "type": "string",
            "description": "Required for keep, accept_risk, false_positive and delegate.",
        },
        "expires_on": nullable(
            {**DATE, "description": "accept_risk only: in the future, at most a year away."}
        ),
        "delegate_to": nullable({**EMAIL, "description": "delegate only: an active reviewer."}),
        "previous_decision_id": nullable(
            {
                "type": "integer",
                "description": "The item's latest decision as you saw it; omit when it had none. "
                "If someone decided meanwhile the answer is 409 with their decision.",
            }
        ),
    },
    required=["decision"],
    closed=True,
)

OPENAPI: dict = {
    "openapi": "3.1.0",
    "info": {
        "title": "iamreview API",
        "version": "1",
        "description": (
            "Continuous least-privilege review of AWS IAM. Authenticate every call (except this "
            "schema) with a personal API token: 'Authorization: Bearer iamr_...'. The token "
            "acts with its owner's roles; the same rules as in the browser apply (segregation "
            "of duties, locked cycles after sign-off). Request bodies are JSON objects sent "
            "with 'Content-Type: application/json'."
        ),
    },
    "servers": [{"url": "/"}],
    "security": [{"bearerAuth": []}],
    "paths": {
        "/api/releases": {
            "post": {
                "operationId": "registerRelease",
                "summary": "Register a release and open its per-release review cycle",
                "description": "Needs decide_review_items or manage_aws_accounts. Role ARNs "
                "iamreview does not know are reported in unknown_role_arns, not ignored.",
                "requestBody": {"required": True, "content": json_content(ref("ReleaseRequest"))},
                "responses": {
                    **ok(
                        "The cycle was opened.",
                        obj(
                            {
                                "cycle": ref("CycleSummary"),
                                "unknown_role_arns": {"type": "array", "items": STRING},
                            },
                            required=["cycle", "unknown_role_arns"],
                        ),
                        "201",
                    ),
                    **READ_ERRORS,
                },
            }
        },
        "/api/cycles": {
            "get": {
                "operationId": "listCycles",
                "summary": "Review cycles, newest first",
                "parameters": [
                    query("kind", "Only this kind.", {"enum": ReviewCycle.Kind.values}),
                    query("state", "Only this state.", {"enum": ReviewCycle.State.values}),
                    PAGE,
                ],
                "responses": {**ok("A page of cycles.", paged("CycleSummary")), **READ_ERRORS},
            }
        },
        "/api/cycles/{cycle_id}": {
            "get": {
                "operationId": "getCycle",
                "summary": "A review cycle with every item and its latest decision",
                "parameters": [path_id("cycle_id", "cycle")],
                "responses": {**ok("The cycle.", ref("Cycle")), **WRITE_ERRORS},
            }
        },
        "/api/cycles/{cycle_id}/evidence": {
            "get": {
                "operationId": "getEvidencePack",
                "summary": "The cycle's evidence pack (needs export_evidence)",
                "parameters": [
                    path_id("cycle_id", "cycle"),
                    query(
                        "format",
                        "json (default) or zip: items.csv, decisions.csv, cycle.json and "
                        "manifest.json with each file's SHA-256.",
                        {"enum": ["json", "zip"]},
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "The evidence pack.",
                        "content": {
                            "application/json": {"schema": ref("EvidencePack")},
                            "application/zip": {
                                "schema": {"type": "string", "contentMediaType": "application/zip"}
                            },
                        },
                    },
                    **WRITE_ERRORS,
                },
            }
        },
        "/api/cycles/{cycle_id}/sign-off": {
            "post": {
                "operationId": "signOffCycle",
                "summary": "Sign off a fully decided cycle (needs sign_off_cycles)",
                "description": "Refused (403) while items wait for a decision, when the cycle "
                "is already signed off, or when the approver decided items in it (segregation "
                "of duties).",
                "parameters": [path_id("cycle_id", "cycle")],
                "requestBody": {
                    "required": True,
                    "content": json_content(
                        obj(
                            {"attestation": {"type": "string", "minLength": 1}},
                            required=["attestation"],
                            closed=True,
                        )
                    ),
                },
                "responses": {**ok("The signed-off cycle.", ref("Cycle")), **WRITE_ERRORS},
            }
        },
        "/api/items/{item_id}/decisions": {
            "post": {
                "operationId": "decideItem",
                "summary": "Record a decision on a review item (needs decide_review_items)",
                "description": "Decisions are append-only: a new one supersedes the latest. "
                "Refused (403) for items about your own IAM identity (segregation of duties) "
                "and in signed-off cycles.",
                "parameters": [path_id("item_id", "review item")],
                "requestBody": {"required": True, "content": json_content(ref("DecisionRequest"))},
                "responses": {
                    **ok("The decision was recorded.", ref("Decision"), "201"),
                    **WRITE_ERRORS,
                    "409": error_response("Conflict"),
                },
            }
        },
        "/api/findings": {
            "get": {
                "operationId": "listFindings",
                "summary": "Findings, filtered like the Findings page",
                "parameters": [
                    query("account", "12-digit AWS account id.", STRING),
                    query("check", "Check id, or access-analyzer:<type>.", STRING),
                    query("severity", "Only this severity.", {"enum": Severity.values}),
                    query("status", "Default open.", {"enum": STATUSES}),
                    query("q", "Text in the resource ARN, name or title.", STRING),
                    query("sort", "Default severity.", {"enum": list(SORTS)}),
                    PAGE,
                    query(
                        "page_size",
                        "Rows per page (default 50).",
                        {"type": "integer", "minimum": 1, "maximum": 200},
                    ),
                ],
                "responses": {**ok("A page of findings.", paged("Finding")), **READ_ERRORS},
            }
        },
        "/api/schema": {
            "get": {
                "operationId": "getSchema",
                "summary": "This OpenAPI document (no token needed)",
                "security": [],
                "responses": ok("The OpenAPI document.", {"type": "object"}),
            }
        },
    },
    "components": {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "A personal API token (iamr_...), created with "
                "'manage.py api_token'. Only its SHA-256 is stored.",
            }
        },
        "schemas": {
            "Error": obj({"error": STRING}, required=["error"]),
            "FieldErrors": obj(
                {"errors": {"type": "object", "additionalProperties": STRING}},
                required=["errors"],
            ),
            "ConflictError": obj(
                {"error": STRING, "current_decision": nullable(ref("Decision"))},
                required=["error", "current_decision"],
            ),
            "Decision": DECISION,
            "DecisionRequest": DECISION_REQUEST,
            "CycleSummary": CYCLE_SUMMARY,
            "Cycle": CYCLE,
            "ReviewItem": ITEM,
            "ReleaseRequest": RELEASE_REQUEST,
            "Finding": FINDING,
            "Manifest": MANIFEST,
            "EvidencePack": EVIDENCE_PACK,
        },
        "responses": {
            "BadRequest": {
                "description": "Invalid input: one message per field ('body' for a body that "
                "is not a JSON object).",
                "content": json_content(ref("FieldErrors")),
            },
            "Unauthorized": {
                "description": "No token, or an invalid or revoked one.",
                "headers": {
                    "WWW-Authenticate": {"schema": STRING, "description": "Bearer"},
                },
                "content": json_content(ref("Error")),
            },
            "Forbidden": {
                "description": "The token's owner may not do this; the reason is given.",
                "content": json_content(ref("Error")),
            },
            "NotFound": {"description": "No such object.", "content": json_content(ref("Error"))},
            "MethodNotAllowed": {
                "description": "Wrong HTTP method; the Allow header lists the right ones.",
                "content": json_content(ref("Error")),
            },
            "Conflict": {
                "description": "Someone decided the item since the decision you named (or "
                "you named none): their decision is returned; decide again naming it.",
                "content": json_content(ref("ConflictError")),
            },
        },
    },
}
