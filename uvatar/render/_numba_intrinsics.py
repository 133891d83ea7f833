"""LLVM intrinsics for the numba kernels that numba itself does not expose.

:func:`prefetch_row` asks the CPU to start loading row ``i`` of an array into its caches (LLVM's
``llvm.prefetch``: x86 ``prefetcht0``, ARM64 ``prfm pldl1keep``; a no-op where a CPU has none). A hint
only: it never changes a result (callers still keep the index inside the array). Why: the kernels read splat rows in an order only known from a list (the tiles' depth-ordered
entries, the depth order itself), which the CPU's own prefetchers cannot guess; asking a few rows
ahead hid most of that latency (measured in ``docs/cpu_renderer.md``: the forward compositing of the
262K benchmark scene 31-34 -> 25-27 ms on 2 threads, the binning 12-15 -> 9-12 ms).

Built with numba's public extension API (``numba.extending.intrinsic``); the intrinsic's name carries
the pointer type of LLVM 14/15, the versions of the pinned llvmlite (0.44).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["prefetch_row"]

_READ, _HIGH_LOCALITY, _DATA_CACHE = 0, 3, 1  # llvm.prefetch(ptr, rw, locality, cache type)


@intrinsic
def prefetch_row(typingctx, array, index):
    """``prefetch_row(array, i)``: prefetch the cache line holding ``array[i, 0, ...]`` (any C or A
    layout, any integer ``i``; nothing is read or checked)."""
    if not isinstance(array, types.Array) or not isinstance(index, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        array_type, index_type = signature.args
        arr = context.make_array(array_type)(context, builder, args[0])
        zero = context.get_constant(types.intp, 0)
        indices = [context.cast(builder, args[1], index_type, types.intp)] + [zero] * (array_type.ndim - 1)
        ptr = cgutils.get_item_pointer(context, builder, array_type, arr, indices, wraparound=False)
        byte_ptr = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32]), "llvm.prefetch.p0i8"
        )
        builder.call(
            fn, [builder.bitcast(ptr, byte_ptr), ir.Constant(i32, _READ), ir.Constant(i32, _HIGH_LOCALITY),
                 ir.Constant(i32, _DATA_CACHE)]
        )  # fmt: skip
        return context.get_dummy_value()

    return types.void(array, index), codegen
