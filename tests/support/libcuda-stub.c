/* libcuda-stub.c - a link-time stand-in for the CUDA driver library, for tests.
 *
 * NVIDIA's toolkit ships such a stub (cuda-driver-devel:
 * targets/<arch>/lib/stubs/libcuda.so, SONAME libcuda.so.1) so that code
 * using the driver API links on machines without a driver; the PyPI toolkit
 * wheels do not. Built by the CUDA tests when the toolkit lacks one: it
 * exports the driver functions the fixture's backend calls and those the real
 * ggml-cuda calls (its virtual memory pool, b10488), each failing the way
 * NVIDIA's stub does when it is loaded at run time. Only the names matter to
 * the linker (Fedora's -Wl,-z,defs); the package never ships or requires it. */

typedef int CUresult;

/* CUDA_ERROR_STUB_LIBRARY in cuda.h */
#define STUB_LIBRARY_ERROR 34

CUresult cuDriverGetVersion(int *version) {
    if (version) {
        *version = 0;
    }
    return STUB_LIBRARY_ERROR;
}

/* The driver API ggml-cuda calls directly (the .cu files of ggml/src/ggml-cuda). */
#define STUB(name) CUresult name(void) { return STUB_LIBRARY_ERROR; }
STUB(cuDeviceGet)
STUB(cuDeviceGetAttribute)
STUB(cuMemAddressFree)
STUB(cuMemAddressReserve)
STUB(cuMemCreate)
STUB(cuMemGetAllocationGranularity)
STUB(cuMemMap)
STUB(cuMemRelease)
STUB(cuMemSetAccess)
STUB(cuMemUnmap)

CUresult cuGetErrorString(CUresult error, const char **text) {
    (void)error;
    if (text) {
        *text = "CUDA driver stub library";
    }
    return STUB_LIBRARY_ERROR;
}
