/* runtime.c -- CPU feature detection, ISA selection and the thread knob. */
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include "internal.h"
#if FNN_X86
#include <cpuid.h>
#endif

int fnn_isa_level = FNN_ISA_GENERIC;
int fnn_zmm_divide = 0;
int fnn_in_place_reuse = 0;
int fnn_num_threads = 1;
int fnn_flush_subnormals = 1;

void fnn_set_flush_subnormals(int on) { fnn_flush_subnormals = on != 0; }
int fnn_get_flush_subnormals(void) { return fnn_flush_subnormals; }

#if FNN_X86
/* XGETBV(0): the register state the OS saves on a context switch */
static unsigned int os_saved_state(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return eax;
}
/* bits 1 (SSE) and 2 (AVX) */
static int os_saves_ymm(void) { return (os_saved_state() & 0x6) == 0x6; }
/* and the AVX-512 state: opmask (bit 5), zmm 0-15 upper halves (6), zmm 16-31 (7) */
static int os_saves_zmm(void) { return (os_saved_state() & 0xE6) == 0xE6; }

int fnn_cpu_has_avx2_fma(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!(fma && osxsave && avx) || !os_saves_ymm()) return 0;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 5) & 1; /* AVX2 */
}

int fnn_cpu_has_avx512f(void) {
    unsigned int a, b, c, d;
    if (!fnn_cpu_has_avx2_fma() || !os_saves_zmm()) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 16) & 1; /* AVX512F */
}

/* The CPU family of an AMD processor, 0 on other vendors. */
static unsigned int amd_family(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
    int amd = b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u; /* "AuthenticAMD" */
    if (!amd || !__get_cpuid(1, &a, &b, &c, &d)) return 0;
    unsigned int family = (a >> 8) & 0xF;
    if (family == 0xF) family += (a >> 20) & 0xFF;
    return family;
}

/* AMD family 0x1A (Zen 5) and later: 512-bit vsqrt / vdiv at the 256-bit instructions'
 * rate, twice the elements a cycle (a 17k-element Adam step in C on one Zen 5 core:
 * float32 0.11 ns an element on 16 lanes, 0.22 on 8; float64 0.37 and 0.70). On Sapphire
 * Rapids (Intel's 512-bit divider is half rate) the 8-lane forms were faster; Zen 4
 * (512-bit operations in two halves) was not measured and keeps them. */
int fnn_cpu_has_full_rate_zmm_divide(void) {
    return fnn_cpu_has_avx512f() && amd_family() >= 0x1A;
}
#else
int fnn_cpu_has_avx2_fma(void) { return 0; }
int fnn_cpu_has_avx512f(void) { return 0; }
int fnn_cpu_has_full_rate_zmm_divide(void) { return 0; }
#endif

void fnn_set_zmm_divide(int on) { fnn_zmm_divide = on != 0 && fnn_cpu_has_avx512f(); }
int fnn_get_zmm_divide(void) { return fnn_zmm_divide; }
void fnn_set_in_place_reuse(int on) { fnn_in_place_reuse = on != 0; }
int fnn_get_in_place_reuse(void) { return fnn_in_place_reuse; }

int fnn_get_isa(void) { return fnn_isa_level; }

/* The highest level at most `isa` that this CPU has. */
int fnn_set_isa(int isa) {
    if (isa >= FNN_ISA_AVX512 && fnn_cpu_has_avx512f()) fnn_isa_level = FNN_ISA_AVX512;
    else if (isa >= FNN_ISA_AVX2 && fnn_cpu_has_avx2_fma()) fnn_isa_level = FNN_ISA_AVX2;
    else fnn_isa_level = FNN_ISA_GENERIC;
    return fnn_isa_level;
}

const char *fnn_isa_name(void) {
    static const char *names[] = {"generic", "avx2-fma", "avx512"};
    return names[fnn_isa_level];
}

/* GNU OpenMP cannot start threads in a child forked from a process whose thread
 * pool exists: the child's first parallel region waits forever for workers that
 * were not copied (multiprocessing's default "fork" on Linux). Such a child runs
 * every kernel on its caller's thread; fastnn/threads.py warns if it asks for
 * more, and also calls fnn_enter_single_threaded_child() when the pool was
 * started by another user of the same libgomp (Numba's omp layer). A child of a
 * process that never ran a multi-threaded region keeps its threads. */
int fnn_omp_pool_used = 0;
static int fnn_forked_child = 0;

void fnn_enter_single_threaded_child(void) {
    fnn_forked_child = 1;
    fnn_num_threads = 1;
}

static void fnn_after_fork_in_child(void) {
    if (fnn_omp_pool_used) fnn_enter_single_threaded_child();
}

int fnn_in_forked_child(void) { return fnn_forked_child; }

int fnn_omp_default_limit = 1;
__thread int fnn_omp_limit_set_here = 0;

void fnn_set_num_threads(int n) {
    fnn_num_threads = n < 1 || fnn_forked_child ? 1 : n;
#ifdef _OPENMP
    if (!fnn_forked_child) {
        omp_set_num_threads(fnn_num_threads);
        fnn_omp_limit_set_here = fnn_num_threads;
    }
#endif
}

int fnn_get_num_threads(void) { return fnn_num_threads; }

int fnn_thread_limit_here(void) { return fnn_thread_limit(); }

int fnn_openmp_version(void) {
#ifdef _OPENMP
    return _OPENMP;
#else
    return 0;
#endif
}

/* Pick the best ISA when the library loads; FASTNN_ISA=generic forces the portable
 * path and FASTNN_ISA=avx2 caps it at AVX2+FMA. Python (fastnn/backends/c.py)
 * re-applies the choice and the thread count after import, so this is only the
 * default. */
__attribute__((constructor)) static void fnn_runtime_init(void) {
    const char *want = getenv("FASTNN_ISA");
    if (want && strcmp(want, "generic") == 0) fnn_set_isa(FNN_ISA_GENERIC);
    else if (want && strcmp(want, "avx2") == 0) fnn_set_isa(FNN_ISA_AVX2);
    else fnn_set_isa(FNN_ISA_AVX512);
    fnn_zmm_divide = fnn_cpu_has_full_rate_zmm_divide();
#if FNN_X86
    /* gemm.c's gemm_decide_packing: measured there */
    fnn_in_place_reuse = amd_family() >= 0x1A;
#endif
#ifdef _OPENMP
    /* honour OMP_NUM_THREADS even for callers that use the library without fastnn's Python layer */
    fnn_num_threads = fnn_omp_default_limit = omp_get_max_threads();
#endif
    pthread_atfork(NULL, NULL, fnn_after_fork_in_child);
}
