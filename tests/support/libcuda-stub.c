/* libcuda-stub.c - a link-time stand-in for the CUDA driver library, for tests.
 *
 * NVIDIA's toolkit ships such a stub (cuda-driver-devel:
 * targets/<arch>/lib/stubs/libcuda.so, SONAME libcuda.so.1) so that code
 * using the driver API links on machines without a driver; the PyPI toolkit
 * wheels do not. Built by tests/test_e2e_cuda.py when the toolkit lacks one:
 * it exports the driver functions the fixture's backend calls, each failing
 * the way NVIDIA's stub does when it is loaded at run time. */

typedef int CUresult;

/* CUDA_ERROR_STUB_LIBRARY in cuda.h */
#define STUB_LIBRARY_ERROR 34

CUresult cuDriverGetVersion(int *version) {
    if (version) {
        *version = 0;
    }
    return STUB_LIBRARY_ERROR;
}
