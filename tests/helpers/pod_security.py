"""Pod Security Standards, `restricted` profile (which includes `baseline`), as the API server's
Pod Security Admission evaluates a pod spec (k8s.io/pod-security-admission, policy v1.30).

`violations(pod_spec)` returns one sentence per violated check, like the admission message.
"""

from __future__ import annotations

from typing import Any

RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
BASELINE_CAPABILITIES = {
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
}


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        *(spec.get("initContainers") or []),
        *(spec.get("containers") or []),
        *(spec.get("ephemeralContainers") or []),
    ]


def violations(spec: dict[str, Any]) -> list[str]:
    found: list[str] = []
    pod_sc = spec.get("securityContext") or {}
    containers = _containers(spec)
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            found.append(f"host namespaces ({field}=true)")
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if "hostPath" in kinds:
            found.append(f"hostPath volumes (volume {volume['name']!r})")
        elif not kinds <= RESTRICTED_VOLUMES:
            found.append(f"restricted volume types (volume {volume['name']!r}: {sorted(kinds)})")
    pod_non_root = pod_sc.get("runAsNonRoot")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_sc.get("runAsUser") == 0:
        found.append("runAsUser=0 (pod)")
    if pod_seccomp == "Unconfined":
        found.append("seccompProfile (pod must not set type Unconfined)")
    for container in containers:
        name = container.get("name", "?")
        sc = container.get("securityContext") or {}
        if sc.get("privileged"):
            found.append(f"privileged (container {name!r})")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"allowPrivilegeEscalation != false (container {name!r})")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            found.append(f"unrestricted capabilities (container {name!r} must drop ALL)")
        added = set(caps.get("add") or [])
        if added - {"NET_BIND_SERVICE"}:
            found.append(f"unrestricted capabilities (container {name!r} adds {sorted(added)})")
        if added - BASELINE_CAPABILITIES:
            found.append(f"non-default capabilities (container {name!r})")
        non_root = sc.get("runAsNonRoot", pod_non_root)
        if non_root is not True:
            found.append(f"runAsNonRoot != true (container {name!r})")
        if sc.get("runAsUser") == 0:
            found.append(f"runAsUser=0 (container {name!r})")
        seccomp = (sc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in {"RuntimeDefault", "Localhost"}:
            found.append(f"seccompProfile (container {name!r} must be RuntimeDefault or Localhost)")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                found.append(f"hostPort (container {name!r})")
    return found


def message(pod_name: str, spec: dict[str, Any]) -> str | None:
    """The admission's refusal text, or None when the pod is allowed."""
    found = violations(spec)
    if not found:
        return None
    return (
        f'pods "{pod_name}" is forbidden: violates PodSecurity "restricted:latest": '
        + ", ".join(found)
    )
