"""`pensionx acl apply | show`: set the ACL matrix on Kafka, or compare it with the cluster.

Run as the cluster's super user (``PENSIONX_KAFKA_SASL_USERNAME`` in ``super.users``): only a
super user, or one granted ALTER on the cluster, may create ACLs. ``apply`` is safe to run on
every deployment — it only adds what is missing and says what it found; ``show`` is the audit
view: each principal, why it has its rights, and whether each right is on the cluster, plus any
binding on the cluster the matrix does not name (which ``apply`` never removes).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pensionx.acl import DEFAULT_MATRIX, AclMatrix, Binding, load_matrix, missing_and_extra
from pensionx.settings import Settings


def add_commands(sub: Any) -> None:
    """Add ``acl apply`` and ``acl show`` to the top-level subparsers."""
    group = sub.add_parser("acl", help="apply the Kafka ACL matrix, or compare it with the cluster")
    actions = group.add_subparsers(dest="acl_command", required=True, metavar="ACTION")

    p = actions.add_parser("apply", help="create the matrix's ACLs the cluster lacks (idempotent)")
    p.add_argument(
        "--file", type=Path, default=DEFAULT_MATRIX, help=f"the matrix (default {DEFAULT_MATRIX})"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="say what would be created, change nothing"
    )
    p.set_defaults(handler=cmd_apply)

    p = actions.add_parser("show", help="the matrix, and how the cluster's ACLs compare with it")
    p.add_argument(
        "--file", type=Path, default=DEFAULT_MATRIX, help=f"the matrix (default {DEFAULT_MATRIX})"
    )
    p.add_argument("--offline", action="store_true", help="only check and print the matrix")
    p.set_defaults(handler=cmd_show)


def cmd_apply(args: argparse.Namespace, settings: Settings) -> int:
    from pensionx.acl import apply_matrix
    from pensionx.runtime import kafka_target

    matrix = load_matrix(args.file)
    report = apply_matrix(kafka_target(settings), matrix, dry_run=args.dry_run)
    verb = "would create" if args.dry_run else "created"
    for b in report.planned if args.dry_run else report.created:
        print(f"{verb:>12}  {b.describe()}")
    for b, reason in report.failed:
        print(f"{'FAILED':>12}  {b.describe()}: {reason}")
    done = len(report.planned) if args.dry_run else len(report.created)
    print(
        f"{len(matrix.principals)} principals, {len(matrix.bindings())} bindings: "
        f"{done} {verb}, {len(report.existing)} already present, {len(report.failed)} failed"
    )
    return 1 if report.failed else 0


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    matrix = load_matrix(args.file)
    if args.offline:
        _print_matrix(matrix, None)
        return 0
    from pensionx.acl import cluster_acls
    from pensionx.runtime import kafka_target

    on_cluster, other = cluster_acls(kafka_target(settings))
    _print_matrix(matrix, on_cluster)
    missing, extra = missing_and_extra(matrix, on_cluster)
    if extra or other:
        print("\non the cluster but not in the matrix (apply leaves these alone):")
        for b in extra:
            print(f"  {b.describe()}")
        for text in other:
            print(f"  {text}")
    print(
        f"\n{len(matrix.bindings())} bindings in the matrix: {len(missing)} missing on the "
        f"cluster; {len(extra) + len(other)} on the cluster not in the matrix"
    )
    return 1 if missing else 0


def _print_matrix(matrix: AclMatrix, on_cluster: set[Binding] | None) -> None:
    for p in matrix.principals:
        print(f"{p.principal}\n  why: {p.why}")
        for b in p.bindings:
            state = "" if on_cluster is None else ("  ok" if b in on_cluster else "  MISSING")
            how = "prefix" if b.pattern == "PREFIXED" else "name"
            print(f"  {b.operation:<9} {b.kind[:-1]:<15} {how}={b.resource}{state}")
