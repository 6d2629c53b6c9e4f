"""The ACL matrix (``deploy/acl-matrix.yaml``): load it, check it, set it on Kafka.

Who may read and write what is the security of a data exchange between departments, so it
lives in one reviewed file rather than in shell history. Loading checks everything a typo
could break silently — an ACL on a misspelled topic grants nothing and fails nobody's test —
and applying it is idempotent: bindings already on the cluster are left as they are, only the
missing ones are created, and bindings the matrix does not name are reported, never deleted
(removing access is an operator's decision, made with ``kafka-acls``).

Only ALLOW bindings from any host (``*``): with ``allow.everyone.if.no.acl.found=false`` on
the brokers, everything not granted is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pensionx.errors import BrokerError, ConfigurationError
from pensionx.kafka_config import KafkaTarget
from pensionx.topics import TOPIC_NAMES

DEFAULT_MATRIX = Path("deploy/acl-matrix.yaml")
CONTROL_TOPIC = "exchange.control.v1"  # services.markers.CONTROL_TOPIC (not imported: no cycle)
KNOWN_TOPICS = frozenset((*TOPIC_NAMES, CONTROL_TOPIC))
HOST = "*"

# Which operations make sense on which kind of resource (Kafka's own table, the subset used).
RESOURCE_KINDS: dict[str, frozenset[str]] = {
    "topics": frozenset(
        [
            "READ",
            "WRITE",
            "CREATE",
            "DELETE",
            "ALTER",
            "DESCRIBE",
            "DESCRIBE_CONFIGS",
            "ALTER_CONFIGS",
        ]
    ),
    "groups": frozenset({"READ", "DESCRIBE", "DELETE"}),
    "transactional_ids": frozenset({"WRITE", "DESCRIBE"}),
}
_RESOURCE_TYPE = {"topics": "TOPIC", "groups": "GROUP", "transactional_ids": "TRANSACTIONAL_ID"}
_KIND_OF_TYPE = {v: k for k, v in _RESOURCE_TYPE.items()}
_PRINCIPAL = re.compile(r"^User:[A-Za-z0-9._-]+$")
_RESOURCE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True, order=True)
class Binding:
    """One ALLOW rule: ``principal`` may do ``operation`` on a resource (host ``*``)."""

    principal: str
    kind: str  # "topics", "groups" or "transactional_ids" (the matrix's keys)
    pattern: str  # "LITERAL" or "PREFIXED"
    resource: str
    operation: str

    def describe(self) -> str:
        how = "prefix" if self.pattern == "PREFIXED" else "name"
        return f"{self.principal} {self.operation} {self.kind[:-1]} {how}={self.resource}"


@dataclass(frozen=True)
class Principal:
    """One principal of the matrix, why it has its rights, and the rights."""

    principal: str
    why: str
    bindings: tuple[Binding, ...]


@dataclass(frozen=True)
class AclMatrix:
    """The whole matrix, checked."""

    source: str
    principals: tuple[Principal, ...]

    def bindings(self) -> list[Binding]:
        return sorted({b for p in self.principals for b in p.bindings})

    def principal(self, name: str) -> Principal:
        for p in self.principals:
            if p.principal == name:
                return p
        raise KeyError(name)


@dataclass
class ApplyReport:
    """What ``apply`` did: created, already there, failed (with the broker's reason).

    In a dry run nothing is created and ``planned`` holds what would be.
    """

    created: list[Binding]
    existing: list[Binding]
    failed: list[tuple[Binding, str]]
    planned: list[Binding]


class AclMatrixError(ConfigurationError):
    """The matrix file is missing, not YAML, or breaks a rule; the message names the place."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(source, problem, "Fix the ACL matrix file and run the command again.")


# --------------------------------------------------------------------------- loading


def load_matrix(path: Path = DEFAULT_MATRIX) -> AclMatrix:
    """Read and check the matrix file; :class:`AclMatrixError` says what is wrong and where."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise AclMatrixError(str(path), f"cannot read it ({exc.strerror or exc})") from exc
    return parse_matrix(text, str(path))


def parse_matrix(text: str, source: str = "<matrix>") -> AclMatrix:
    """Check the matrix's YAML text (see ``deploy/acl-matrix.yaml`` for the format)."""
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AclMatrixError(source, f"not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or set(doc) != {"principals"}:
        raise AclMatrixError(source, "the top level must be a mapping with only `principals:`")
    entries = doc["principals"]
    if not isinstance(entries, list) or not entries:
        raise AclMatrixError(source, "`principals` must be a non-empty list")
    seen: set[str] = set()
    principals = []
    for i, entry in enumerate(entries):
        p = _principal(entry, f"{source}: principals[{i}]")
        if p.principal in seen:
            raise AclMatrixError(source, f"{p.principal} is listed twice: merge the entries")
        seen.add(p.principal)
        principals.append(p)
    return AclMatrix(source, tuple(principals))


def _principal(entry: Any, where: str) -> Principal:
    if not isinstance(entry, dict):
        raise AclMatrixError(where, "each entry must be a mapping")
    unknown = set(entry) - {"principal", "why", *RESOURCE_KINDS}
    if unknown:
        raise AclMatrixError(where, f"unknown key(s) {sorted(unknown)}")
    name = entry.get("principal")
    if not isinstance(name, str) or not _PRINCIPAL.match(name):
        raise AclMatrixError(where, f"principal {name!r} is not of the form User:<name>")
    where = f"{where} ({name})"
    why = entry.get("why")
    if not isinstance(why, str) or not why.strip():
        raise AclMatrixError(where, "`why` is required: say why this principal needs its rights")
    bindings: list[Binding] = []
    for kind in RESOURCE_KINDS:
        items = entry.get(kind, [])
        if not isinstance(items, list):
            raise AclMatrixError(where, f"`{kind}` must be a list")
        for j, item in enumerate(items):
            bindings.extend(_grants(name, kind, item, f"{where}: {kind}[{j}]"))
    if not bindings:
        raise AclMatrixError(where, "grants nothing: remove it or give it rights")
    return Principal(name, " ".join(why.split()), tuple(bindings))


def _grants(principal: str, kind: str, item: Any, where: str) -> list[Binding]:
    if not isinstance(item, dict) or set(item) - {"name", "prefix", "operations"}:
        raise AclMatrixError(where, "write `name:` or `prefix:` and `operations:`, nothing else")
    if ("name" in item) == ("prefix" in item):
        raise AclMatrixError(where, "give exactly one of `name` (literal) or `prefix`")
    pattern = "LITERAL" if "name" in item else "PREFIXED"
    resource = item["name"] if pattern == "LITERAL" else item["prefix"]
    if not isinstance(resource, str) or not _RESOURCE_NAME.match(resource):
        raise AclMatrixError(where, f"{resource!r} is not a resource name (letters . _ -)")
    if kind == "topics" and pattern == "LITERAL" and resource not in KNOWN_TOPICS:
        raise AclMatrixError(
            where,
            f"topic {resource!r} is not a contract topic ({', '.join(sorted(KNOWN_TOPICS))}); "
            "use `prefix:` for internal topics",
        )
    operations = item.get("operations")
    if not isinstance(operations, list) or not operations:
        raise AclMatrixError(where, "`operations` must be a non-empty list")
    allowed = RESOURCE_KINDS[kind]
    out = []
    for op in operations:
        if not isinstance(op, str) or op.upper() not in allowed:
            raise AclMatrixError(
                where, f"operation {op!r} is not one of {', '.join(sorted(allowed))} for {kind}"
            )
        out.append(Binding(principal, kind, pattern, resource, op.upper()))
    return out


# --------------------------------------------------------------------------- the cluster


def _admin(target: KafkaTarget) -> Any:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        return KafkaAdminClient(**target.admin_config())
    except KafkaError as exc:
        raise BrokerError(
            f"cannot reach Kafka at {target.bootstrap} as {target.sasl_username or 'anonymous'} "
            f"({exc.__class__.__name__}: {exc}). Check the PENSIONX_KAFKA_* settings."
        ) from exc


def _to_acl(b: Binding) -> Any:
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourceType,
    )

    pattern = ResourcePattern(
        ResourceType[_RESOURCE_TYPE[b.kind]], b.resource, ACLResourcePatternType[b.pattern]
    )
    return ACL(b.principal, HOST, ACLOperation[b.operation], ACLPermissionType.ALLOW, pattern)


def _from_acl(acl: Any) -> Binding | None:
    """A binding on the cluster in the matrix's terms; None for what the matrix cannot say."""
    kind = _KIND_OF_TYPE.get(acl.resource_pattern.resource_type.name)
    if kind is None or acl.host != HOST or acl.permission_type.name != "ALLOW":
        return None
    return Binding(
        acl.principal,
        kind,
        acl.resource_pattern.pattern_type.name,
        acl.resource_pattern.resource_name,
        acl.operation.name,
    )


def cluster_acls(target: KafkaTarget) -> tuple[set[Binding], list[str]]:
    """Every ACL on the cluster: those the matrix could state, and the others as text.

    Needs DESCRIBE on the cluster (a super user). Raises :class:`BrokerError` when the
    brokers have no authorizer or refuse.
    """
    admin = _admin(target)
    try:
        return _describe_all(admin)
    finally:
        admin.close()


def _describe_all(admin: Any) -> tuple[set[Binding], list[str]]:
    from kafka.admin import (
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePatternFilter,
        ResourceType,
    )
    from kafka.errors import KafkaError

    any_filter = ACLFilter(
        principal=None,
        host=None,
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )
    try:
        acls, error = admin.describe_acls(any_filter)
    except KafkaError as exc:
        raise BrokerError(
            f"Kafka refused to list the ACLs ({exc.__class__.__name__}: {exc})"
        ) from exc
    if getattr(error, "errno", 0):
        raise BrokerError(
            f"Kafka refused to list the ACLs ({error}): are the brokers running an authorizer "
            "(authorizer.class.name), and is the configured user a super user?"
        )
    known: set[Binding] = set()
    other: list[str] = []
    for acl in acls:
        b = _from_acl(acl)
        if b is None:
            other.append(str(acl))
        else:
            known.add(b)
    return known, other


def apply_matrix(target: KafkaTarget, matrix: AclMatrix, *, dry_run: bool = False) -> ApplyReport:
    """Create the matrix's bindings that the cluster lacks; leave every other one alone."""
    admin = _admin(target)
    try:
        on_cluster, _ = _describe_all(admin)
        wanted = matrix.bindings()
        existing = [b for b in wanted if b in on_cluster]
        missing = [b for b in wanted if b not in on_cluster]
        if dry_run or not missing:
            return ApplyReport(created=[], existing=existing, failed=[], planned=missing)
        return _create(admin, missing, existing)
    finally:
        admin.close()


def _create(admin: Any, missing: list[Binding], existing: list[Binding]) -> ApplyReport:
    from kafka.errors import KafkaError

    by_acl = {_key(_to_acl(b)): b for b in missing}
    try:
        result = admin.create_acls([_to_acl(b) for b in missing])
    except KafkaError as exc:
        raise BrokerError(
            f"Kafka refused to create ACLs ({exc.__class__.__name__}: {exc})"
        ) from exc
    created = sorted(by_acl[_key(a)] for a in result.get("succeeded", []))
    failed = sorted((by_acl[_key(a)], str(err)) for a, err in result.get("failed", []))
    return ApplyReport(created=created, existing=existing, failed=failed, planned=missing)


def _key(acl: Any) -> tuple[str, str, str, str, str]:
    rp = acl.resource_pattern
    return (
        acl.principal,
        rp.resource_type.name,
        rp.pattern_type.name,
        rp.resource_name,
        acl.operation.name,
    )


def missing_and_extra(
    matrix: AclMatrix, on_cluster: Iterable[Binding]
) -> tuple[list[Binding], list[Binding]]:
    """(in the matrix but not on the cluster, on the cluster but not in the matrix)."""
    wanted = set(matrix.bindings())
    have = set(on_cluster)
    return sorted(wanted - have), sorted(have - wanted)
