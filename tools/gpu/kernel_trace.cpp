// A CUPTI activity tracer the CUDA driver loads into any process (CUDA_INJECTION64_PATH), since the device machine has no
// Nsight Systems: every kernel's and memory copy's start and end on the GPU, with grid and block, as CSV at exit. Kernels
// run concurrently as in an untraced run (the concurrent-kernel activity kind, which also records graph nodes), so under
// programmatic dependent launch a kernel's start is when its first block started (possibly before it waited) and its end
// when its last block finished. tools/gpu/kernel_trace.py reads the CSV; tools/gpu/all.sh run trace builds and runs both.
//   nvcc -shared -Xcompiler -fPIC -DKERNEL_RECORD=CUpti_ActivityKernelN -DMEMCPY_RECORD=CUpti_ActivityMemcpyN \
//     -I$CUPTI/include -L$CUPTI/lib64 -lcupti -o /tmp/kernel_trace.so tools/gpu/kernel_trace.cpp
//   KERNEL_TRACE_OUT=/tmp/trace.csv CUDA_INJECTION64_PATH=/tmp/kernel_trace.so <program>
#include <cupti.h>
#include <cstdio>
#include <cstdlib>
#include <mutex>

static FILE* out;
static std::mutex lock;

static void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* maxRecords)
{
    *size = 16 << 20;
    *buffer = (uint8_t*)aligned_alloc(8, *size);
    *maxRecords = 0;
}

static void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid)
{
    std::lock_guard<std::mutex> guard(lock);
    CUpti_Activity* record = nullptr;
    while (cuptiActivityGetNextRecord(buffer, valid, &record) == CUPTI_SUCCESS)
    {
        if (record->kind == CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL || record->kind == CUPTI_ACTIVITY_KIND_KERNEL)
        {
            const KERNEL_RECORD* k = (const KERNEL_RECORD*)record;
            fprintf(out, "kernel,%s,%llu,%llu,%d,%d,%u\n", k->name, (unsigned long long)k->start, (unsigned long long)k->end, k->gridX,
                k->blockX, k->streamId);
        }
        else if (record->kind == CUPTI_ACTIVITY_KIND_MEMCPY)
        {
            const MEMCPY_RECORD* m = (const MEMCPY_RECORD*)record;
            fprintf(out, "memcpy,kind%d,%llu,%llu,%llu,0,%u\n", (int)m->copyKind, (unsigned long long)m->start, (unsigned long long)m->end,
                (unsigned long long)m->bytes, m->streamId);
        }
    }
    free(buffer);
}

static void flush_at_exit()
{
    cuptiActivityFlushAll(1);
    if (out != nullptr) fclose(out);
}

extern "C" int InitializeInjection(void)
{
    const char* path = getenv("KERNEL_TRACE_OUT");
    out = fopen(path != nullptr ? path : "/tmp/kernel_trace.csv", "w");
    if (out == nullptr) return 0;
    fprintf(out, "what,name,start_ns,end_ns,grid_or_bytes,block,stream\n");
    if (cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed) != CUPTI_SUCCESS) return 0;
    cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
    cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMCPY);
    atexit(flush_at_exit);
    return 1;
}
