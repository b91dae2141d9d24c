"""Ray for scoring (`scoring.engine: ray`): one session per run, started or joined once.

`scoring.rayAddress: auto` joins the cluster named by `RAY_ADDRESS` when it is set (a KubeRay
RayJob sets it), and otherwise starts Ray inside this process; any other value is an address to
join. A Ray already initialized in this process (a test session) is reused and left running.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from codeinstruct.workers.errors import UserError

if TYPE_CHECKING:
    from codeinstruct.workers.services import Services


def start_ray(address: str, num_cpus: int | None = None) -> tuple[Any, bool]:
    """(the ray module, whether this call started it)."""
    try:
        import ray
    except ImportError:
        raise UserError(
            "scoring.engine: `ray` needs the `ray` package (pip install 'codeinstruct[ray]'), "
            "or set scoring.engine to `local`"
        ) from None
    if ray.is_initialized():
        return ray, False
    target = os.environ.get("RAY_ADDRESS") if address == "auto" else address
    try:
        if target:
            ray.init(address=target, log_to_driver=False, include_dashboard=False)
        else:
            ray.init(
                num_cpus=num_cpus or os.cpu_count() or 1,
                log_to_driver=False,
                include_dashboard=False,
            )
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise UserError(
            f"scoring.rayAddress: cannot reach Ray at {target!r} ({error}); use `auto` to start "
            "Ray in this process"
        ) from None
    return ray, True


def ray_for(services: Services) -> Any:
    def start(services: Services, stack: ExitStack) -> Any:
        ray, started = start_ray(services.spec.scoring.ray_address)
        if started:
            stack.callback(ray.shutdown)
        return ray

    return services.get("ray", start)


def ray_workers(services: Services) -> int:
    """Scoring actors to use: `scoring.rayWorkers`, or the cluster's CPUs."""
    configured = services.spec.scoring.ray_workers
    if configured:
        return configured
    ray = ray_for(services)
    return max(1, int(ray.cluster_resources().get("CPU", 1)))
