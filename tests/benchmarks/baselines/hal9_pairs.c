/* HAL9's pair discovery as a plain double loop: the baseline of tests/benchmarks/test_bench_reference.py.
 *
 * Usage: hal9_pairs FEATURES N REPEATS
 *   FEATURES: N float32 s values then N float32 c values (native byte order), as the benchmark writes them.
 * Prints "count seconds" once per repeat; seconds time the loop only (CLOCK_MONOTONIC), not the file read.
 * Rule, in float32 and in this order: (1 - 0.5|s_i - s_j|) - 0.3|c_i - c_j| > 0.5 for every i < j.
 * Build: cc -O2 -ffp-contract=off (no fused multiply-add, as in HAL9's Rust code).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t count_pairs(const float *s, const float *c, long n) {
    uint64_t count = 0;
    for (long i = 0; i < n; i++) {
        const float si = s[i], ci = c[i];
        for (long j = i + 1; j < n; j++) {
            float a = si - s[j], b = ci - c[j];
            a = a < 0.0f ? -a : a;
            b = b < 0.0f ? -b : b;
            const float v = (1.0f - 0.5f * a) - 0.3f * b;
            count += v > 0.5f;
        }
    }
    return count;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s FEATURES N REPEATS\n", argv[0]);
        return 2;
    }
    const long n = atol(argv[2]), repeats = atol(argv[3]);
    float *buf = malloc(sizeof(float) * 2 * (size_t)n);
    FILE *f = fopen(argv[1], "rb");
    if (n < 1 || repeats < 1 || !buf || !f || fread(buf, sizeof(float), 2 * (size_t)n, f) != 2 * (size_t)n) {
        fprintf(stderr, "cannot read %ld features from %s\n", n, argv[1]);
        return 2;
    }
    fclose(f);
    for (long r = 0; r < repeats; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        const uint64_t count = count_pairs(buf, buf + n, n);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("%llu %.9f\n", (unsigned long long)count, (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec));
        fflush(stdout);
    }
    free(buf);
    return 0;
}
