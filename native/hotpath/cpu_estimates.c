/*
 * What this CPU's estimate instructions compute. rsqrtss and rcpss return approximations whose
 * error the x86 manuals bound (1.5 * 2^-12) but whose bits they leave to the implementation, and
 * Intel's and AMD's differ (here: rsqrtss(1.0) is 0x3f7ff800 on an AMD EPYC). ioq3ded computes
 * with both (7 rsqrtss and 1 rcpss in Debian's build), so two machines play one seed alike only
 * where these agree: provenance records this digest beside the CPU's model.
 *
 * Both are table lookups on the mantissa (rsqrtss also on the exponent's parity), so [1, 4) for
 * rsqrtss and [1, 2) for rcpss hold every pattern: 12.6 million results, about 10 ms.
 */
#include "py_hotpath.h" /* Python.h first */

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <xmmintrin.h>

static uint64_t fnv1a(uint64_t h, __m128 v)
{
    uint32_t lanes[4];
    memcpy(lanes, &v, sizeof lanes);
    for (int i = 0; i < 4; i++)
        h = (h ^ lanes[i]) * 0x100000001b3ull;
    return h;
}

/* The FNV-1a digest of op over every float from `from` (inclusive) up to `to`, in bit order. */
static uint64_t digest_of(uint64_t h, int rsqrt, float from, float to)
{
    uint32_t first, last;
    memcpy(&first, &from, 4);
    memcpy(&last, &to, 4);
    for (uint32_t bits = first; bits < last; bits += 4) {
        uint32_t in[4] = {bits, bits + 1, bits + 2, bits + 3};
        __m128 x;
        memcpy(&x, in, sizeof x);
        h = fnv1a(h, rsqrt ? _mm_rsqrt_ps(x) : _mm_rcp_ps(x));
    }
    return h;
}

PyObject *hp_cpu_estimates(PyObject *mod, PyObject *unused)
{
    (void)mod;
    (void)unused;
    uint64_t h = 0xcbf29ce484222325ull;
    Py_BEGIN_ALLOW_THREADS
    h = digest_of(digest_of(h, 1, 1.0f, 4.0f), 0, 1.0f, 2.0f);
    Py_END_ALLOW_THREADS
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    return PyUnicode_FromString(hex);
}
