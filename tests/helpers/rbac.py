"""The chart's RBAC, evaluated like the API server's RBAC authorizer, plus the
OwnerReferencesPermissionEnforcement admission plugin (on in OpenShift and hardened clusters).

`Authorizer.from_chart(values)` renders the Helm chart offline and keeps the ClusterRoles and
Roles bound to the operator's ServiceAccount; `allowed()` answers one request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[2] / "charts" / "codeinstruct"
RELEASE_NAMESPACE = "codeinstruct-system"
# Plural and group of the owner kinds the operator sets ownerReferences to.
OWNER_KINDS = {"InstructionDataset": ("codeinstruct.dev", "instructiondatasets")}


@dataclass(frozen=True)
class Rule:
    groups: frozenset[str]
    resources: frozenset[str]
    verbs: frozenset[str]

    def matches(self, verb: str, group: str, resource: str) -> bool:
        return (
            (group in self.groups or "*" in self.groups)
            and (resource in self.resources or "*" in self.resources)
            and (verb in self.verbs or "*" in self.verbs)
        )


@dataclass
class Authorizer:
    """Rules that apply cluster-wide (ClusterRoleBinding) and per namespace (RoleBinding)."""

    cluster: list[Rule] = field(default_factory=list)
    namespaced: dict[str, list[Rule]] = field(default_factory=dict)
    denied: list[str] = field(default_factory=list)  # every refused request, for assertions

    @classmethod
    def from_chart(cls, values: dict[str, Any] | None = None) -> Authorizer:
        import helm_python

        chart = helm_python.Chart.load(str(CHART))
        out = chart.render(values or {}, name="ci", namespace=RELEASE_NAMESPACE)
        docs = [
            doc
            for path, text in out.items()
            if path.endswith(".yaml")
            for doc in yaml.safe_load_all(text)
            if doc
        ]
        return cls.from_objects(docs)

    @classmethod
    def from_objects(cls, docs: list[dict[str, Any]]) -> Authorizer:
        roles: dict[tuple[str, str | None, str], list[Rule]] = {}
        for doc in docs:
            if doc.get("kind") in {"ClusterRole", "Role"}:
                meta = doc["metadata"]
                scope = meta.get("namespace") if doc["kind"] == "Role" else None
                roles[(doc["kind"], scope, meta["name"])] = [
                    Rule(
                        frozenset(r.get("apiGroups") or []),
                        frozenset(r.get("resources") or []),
                        frozenset(r.get("verbs") or []),
                    )
                    for r in doc.get("rules") or []
                ]
        auth = cls()
        for doc in docs:
            if doc.get("kind") not in {"ClusterRoleBinding", "RoleBinding"}:
                continue
            if not any(s.get("kind") == "ServiceAccount" for s in doc.get("subjects") or []):
                continue
            ref = doc["roleRef"]
            if doc["kind"] == "ClusterRoleBinding":
                auth.cluster += roles.get(("ClusterRole", None, ref["name"]), [])
                continue
            namespace = doc["metadata"]["namespace"]
            scope = None if ref["kind"] == "ClusterRole" else namespace
            rules = roles.get((ref["kind"], scope, ref["name"]), [])
            auth.namespaced.setdefault(namespace, []).extend(rules)
        return auth

    def allowed(self, verb: str, group: str, resource: str, namespace: str | None) -> bool:
        rules = list(self.cluster)
        if namespace is not None:
            rules += self.namespaced.get(namespace, [])
        return any(rule.matches(verb, group, resource) for rule in rules)

    def check(self, verb: str, group: str, resource: str, namespace: str | None) -> str | None:
        """None when allowed, else the API server's 403 message."""
        if self.allowed(verb, group, resource, namespace):
            return None
        where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
        message = (
            'User "system:serviceaccount:codeinstruct-system:ci-codeinstruct" cannot '
            f'{verb} resource "{resource}" in API group "{group}"{where}'
        )
        self.denied.append(message)
        return message

    def check_owner_references(self, obj: dict[str, Any], namespace: str | None) -> str | None:
        """OwnerReferencesPermissionEnforcement: blockOwnerDeletion needs `update` on the
        owner's finalizers subresource."""
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
            if not ref.get("blockOwnerDeletion"):
                continue
            group, plural = OWNER_KINDS.get(ref.get("kind", ""), ("", ""))
            if not self.allowed("update", group, f"{plural}/finalizers", namespace):
                message = (
                    f"cannot set blockOwnerDeletion if an ownerReference refers to a resource "
                    f"you can't set finalizers on: {ref.get('kind')} {ref.get('name')!r}"
                )
                self.denied.append(message)
                return message
        return None
