"""The spec's crossbar arithmetic (section 3) written out loop by loop, in plain Python
integers: the independent reference the vectorized golden model is tested against."""


def ref_map_weights(w, R, C, b_w, b_c):
    s = -(-(b_w - 1) // b_c)
    levels = [[0] * C for _ in range(R)]
    for r, row in enumerate(w):
        for j, wv in enumerate(row):
            p, n = max(wv, 0), max(-wv, 0)
            for k in range(s):
                levels[r][j * 2 * s + k] = (p >> (k * b_c)) & ((1 << b_c) - 1)
                levels[r][j * 2 * s + s + k] = (n >> (k * b_c)) & ((1 << b_c) - 1)
    return levels


def ref_crossbar_mvm(levels, x, b_w, b_c, b_x, v, b_a, a=None, signed=False):
    R, C = len(levels), len(levels[0])
    s = -(-(b_w - 1) // b_c)
    L = C // (2 * s)
    T = -(-b_x // v)
    s_max = R * ((1 << v) - 1) * ((1 << b_c) - 1)
    if a is None:
        a = max(0, s_max.bit_length() - b_a)
    h = (1 << (a - 1)) if a > 0 else 0
    off = (1 << (b_x - 1)) if signed else 0
    out = []
    for xb in x:
        xu = [xv + off for xv in xb]
        Q = [[0] * C for _ in range(T)]
        for t in range(T):
            for c in range(C):
                S = 0
                for r in range(R):
                    S += ((xu[r] >> (t * v)) & ((1 << v) - 1)) * levels[r][c]
                Q[t][c] = min((S + h) >> a, (1 << b_a) - 1)
        P = []
        for j in range(L):
            acc = 0
            for t in range(T):
                for k in range(s):
                    cp, cn = j * 2 * s + k, j * 2 * s + s + k
                    acc += (1 << (t * v)) * (1 << (k * b_c)) * (Q[t][cp] - Q[t][cn])
            acc <<= a
            if signed:
                wsum = 0
                for r in range(R):
                    for k in range(s):
                        wsum += (levels[r][j * 2 * s + k] - levels[r][j * 2 * s + s + k]) << (k * b_c)
                acc -= off * wsum
            P.append(acc)
        out.append(P)
    return out


def ref_column_mask(P, codes, exponents):
    """Spec section 3's column mask on one crossbar's outputs P[b][j]: code 0 gates,
    code i >= 1 shifts by e = exponents[i-1] (left for e >= 0, arithmetic right for e < 0)."""
    out = []
    for row in P:
        o = []
        for p, m in zip(row, codes):
            if m == 0:
                o.append(0)
            else:
                e = exponents[m - 1]
                o.append(p << e if e >= 0 else p >> -e)  # Python's >> is arithmetic (floor)
        out.append(o)
    return out
