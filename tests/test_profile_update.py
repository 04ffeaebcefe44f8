"""benchmarks/profile_update.py groups XLA ops by where JAX traced them: inside a
network's forward or backward pass (activation-sized) or outside it (Adam, the
projection, the target EMA: parameter-sized), so FlashSAC's stacked batch and
weights that happen to share a shape with activations land in the right group."""

from tests.benchmark_scripts import load_benchmark

profile = load_benchmark("profile_update")

HLO = """\
%fused_computation.1 (p: f32[2,128,512]) -> f32[2,128,512] {
  %d = f32[2,128,512] dot(%p, %p), metadata={op_name="jit(f)/dot_general"}
}

ENTRY %main {
  %ynn_fusion.1 = f32[2,128,512] fusion(%a), kind=kCustom, calls=%fused_computation.1
  %relu.2 = f32[2,128,512] maximum(%x, %y), metadata={op_name="jit(u)/body/jvp(Critic)/Block_0/max"}
  %grad.3 = f32[2,128,512] multiply(%x, %y), metadata={op_name="jit(u)/transpose(jvp(Actor))/mul"}
  %adam.4 = f32[2,512,128] multiply(%m, %v), metadata={op_name="jit(u)/body/closed_call/cond/add"}
  %ema.5 = f32[2,128,512] add(%t, %o), metadata={op_name="jit(u)/body/mul"}
  %bare.6 = f32[128,64] copy(%z)
  %bare.7 = f32[512,8] copy(%z)
  %tiny.8 = f32[2,128] add(%s, %s), metadata={op_name="jit(u)/body/add"}
}
"""


def test_ops_are_grouped_by_where_they_were_traced():
    shapes, dots, paths = profile.op_shapes(HLO)
    assert shapes["adam.4"] == [2, 512, 128] and "ynn_fusion.1" in dots

    def group(name):
        return profile.group_of(name, shapes[name], 64, dots, paths.get(name))

    assert group("ynn_fusion.1") == "matmul"
    assert group("relu.2") == "activation-sized"  # forward pass of a flax module
    assert group("grad.3") == "activation-sized"  # its backward pass
    # outside the networks, whatever the shape: the EMA's [2, 128, 512] has an axis of
    # twice the batch (the stacked FlashSAC batch) and is still a parameter's shape
    assert group("adam.4") == "parameter-sized"
    assert group("ema.5") == "parameter-sized"
    # no metadata: an axis of the batch or of twice it marks an activation
    assert group("bare.6") == "activation-sized"
    assert group("bare.7") == "parameter-sized"
    assert group("tiny.8") == "other"


def test_in_network_reads_flax_module_names():
    assert profile.in_network("jit(f)/while/body/jvp(SimbaV2Critic)/Encoder_0/add")
    assert profile.in_network("jit(f)/transpose(jvp(FlashSACActor))/mul")
    assert profile.in_network("jit(f)/vmap(jvp(Critic))/mul")
    assert not profile.in_network("jit(f)/while/body/closed_call/cond/branch_1_fun/sqrt")
