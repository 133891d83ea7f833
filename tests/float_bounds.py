"""Rounding-error bounds that the tests' tolerances are derived from (import as ``from float_bounds import ...``).

Standard floating-point model (Higham, *Accuracy and Stability of Numerical Algorithms*, ch. 2-3): each
IEEE-754 operation +, -, *, / and sqrt on representable numbers returns ``exact * (1 + d)`` with
``|d| <= u``, the unit roundoff (half the machine epsilon). A fused multiply-add rounds once where the
separate operations round twice, so every bound below holds with or without FMA contraction and for
any summation order (SIMD width, BLAS kernel, thread split): that is what lets a bound hold on every CPU.

- a product or quotient of ``n`` rounded factors carries a relative error of at most ``gamma(n)``;
- a sum or dot product of ``n`` terms, in any order, has ``|error| <= gamma(n - 1) * sum |term_i|``
  (``gamma(n)`` when each term is itself a rounded product).

Tolerances written as ``k * U32 * magnitude`` in the tests are ``gamma(k) * magnitude`` to first order.
"""

from __future__ import annotations

U32 = 2.0**-24  # float32 unit roundoff (EPS32 / 2)
EPS32 = 2.0**-23  # float32 machine epsilon: spacing of floats in [1, 2); 1.19e-7
U64 = 2.0**-53  # float64 unit roundoff
EPS64 = 2.0**-52  # 2.2e-16


def gamma(n: float, u: float = U32) -> float:
    """Higham's ``gamma_n = n u / (1 - n u)``: the relative error bound of ``n`` chained roundings."""
    if n * u >= 1:
        raise ValueError(f"gamma({n}) undefined for u = {u}: n u >= 1")
    return n * u / (1.0 - n * u)


def ulp32(x: float) -> float:
    """Spacing of float32 numbers at ``|x|`` (one unit in the last place; ``2 U32 |x|`` at most)."""
    import numpy as np

    return float(np.spacing(np.float32(abs(x))))
