"""A bad configuration value is refused when the kernel starts, naming the trait."""

from __future__ import annotations

import pytest
from traitlets import TraitError

from dockerkernel.kernel import DockerKernel
from dockerkernel.kernel.config import POSITIVE_TRAITS, SIZE_TRAITS, KernelConfig


@pytest.mark.parametrize("trait", SIZE_TRAITS)
def test_a_size_that_is_not_a_size_names_the_trait(trait):
    with pytest.raises(TraitError, match=f"DockerKernel.{trait}='lots'"):
        KernelConfig(**{trait: "lots"})


@pytest.mark.parametrize("trait", POSITIVE_TRAITS)
def test_limits_must_be_positive(trait):
    with pytest.raises(TraitError, match=f"DockerKernel.{trait}"):
        KernelConfig(**{trait: 0})


def test_good_values_give_the_limits():
    config = KernelConfig(mem_limit="1g", output_limit="2m", tmp_size="16m", workspace_size="0", timeout=5)
    limits = config.configured_limits()
    assert (limits.memory, limits.output, limits.tmp_size, limits.timeout) == (1 << 30, 2 << 20, 16 << 20, 5)
    assert config.workspace_bytes() == 0


def test_the_kernel_has_these_traits_as_its_configuration():
    assert issubclass(DockerKernel, KernelConfig)
    assert DockerKernel.class_traits(config=True).keys() >= set(SIZE_TRAITS) | set(POSITIVE_TRAITS)
