"""Which stages each method runs, with which parameters."""

from __future__ import annotations

from codeinstruct.workers.spec import Method, Spec
from codeinstruct.workers.stages.base import Stage


def method_stages(spec: Spec) -> list[Stage]:
    if spec.method is Method.SELFCODEALIGN:
        from codeinstruct.workers.methods import selfcodealign

        return selfcodealign.stages(spec)
    if spec.method is Method.WAVECODER:
        from codeinstruct.workers.methods import wavecoder

        return wavecoder.stages(spec)
    from codeinstruct.workers.methods import xcoder

    return xcoder.stages(spec)
