// runtime.cpp (software device): the CUDA runtime subset of cuda_runtime.h.
//
// Devices: ALIGN_EMU_DEVICES (default 8) emulated sm_90 devices with an H100
// SXM's limits and memory size, so that several ranks on one node each find
// "their" GPU. Memory: cudaMalloc returns 256-byte aligned host memory filled
// with 0xFF bytes (NaN as float: a read of memory nobody wrote shows), recorded
// in a table with its device, in a mapping of its own with a guard page after
// it; cudaFree makes the range inaccessible and remembers it (a bounded list),
// so a later use of it is recognised as use of freed device memory. The table counts the bytes allocated per device and
// their peak (cudaMemGetInfo, emuPeakAllocatedBytes). Copies and memsets check their kind against where the pointers
// live and their extent against the allocation. Streams and events are handles: work runs when it is issued, which is a
// valid order for every stream, so synchronisation calls only check their handles; events record the host clock.
#include <sys/mman.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ALIGN_EMU_ASAN 1
#endif

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>

#include "emu/state.hpp"

struct CUstream_st {
  unsigned flags;
  int device;
};
struct CUevent_st {
  unsigned flags;
  bool recorded;
  std::chrono::steady_clock::time_point time;
};

namespace emu {

namespace {

constexpr size_t kH100Memory = 81559ull << 20;  // 81559 MiB, as an H100 SXM 80GB reports
constexpr size_t kFreedRemembered = 8192;       // freed ranges kept (unusable) for use-after-free reports

std::mutex g_mutex;  // guards the tables below
std::map<uintptr_t, Allocation> g_live;
std::deque<Allocation> g_freed;
size_t g_used[64], g_peak[64];
std::set<const CUstream_st*> g_streams;
std::set<const CUevent_st*> g_events;
cudaError_t g_sticky = cudaSuccess;
std::string g_sticky_message;
thread_local cudaError_t tl_last = cudaSuccess;
thread_local cudaError_t tl_message_error = cudaSuccess;  // the error tl_last_message explains
thread_local std::string tl_last_message;
thread_local int tl_device = 0;

int device_count() {
  static const int n = [] {
    const char* e = std::getenv("ALIGN_EMU_DEVICES");
    const int v = e ? std::atoi(e) : 8;
    return v < 0 ? 0 : v > 64 ? 64 : v;
  }();
  return n;
}

const char* error_name(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "cudaSuccess";
    case cudaErrorInvalidValue:
      return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation:
      return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError:
      return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration:
      return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer:
      return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection:
      return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInvalidResourceHandle:
      return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady:
      return "cudaErrorNotReady";
    case cudaErrorIllegalAddress:
      return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources:
      return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchFailure:
      return "cudaErrorLaunchFailure";
    case cudaErrorInvalidDevice:
      return "cudaErrorInvalidDevice";
    case cudaErrorNoDevice:
      return "cudaErrorNoDevice";
    case cudaErrorNotSupported:
      return "cudaErrorNotSupported";
    default:
      return "cudaErrorUnknown";
  }
}

const char* error_text(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "no error";
    case cudaErrorInvalidValue:
      return "invalid argument";
    case cudaErrorMemoryAllocation:
      return "out of memory";
    case cudaErrorInvalidConfiguration:
      return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer:
      return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection:
      return "invalid copy direction for memcpy";
    case cudaErrorInvalidResourceHandle:
      return "invalid resource handle";
    case cudaErrorNotReady:
      return "device not ready";
    case cudaErrorIllegalAddress:
      return "an illegal memory access was encountered";
    case cudaErrorLaunchOutOfResources:
      return "too many resources requested for launch";
    case cudaErrorLaunchFailure:
      return "unspecified launch failure";
    case cudaErrorInvalidDevice:
      return "invalid device ordinal";
    case cudaErrorNoDevice:
      return "no CUDA-capable device is detected";
    case cudaErrorNotSupported:
      return "operation not supported";
    default:
      return "unknown error";
  }
}

// Device memory. With AddressSanitizer: the heap, so that ASan's redzones and quarantine
// check every kernel access. Otherwise: a mapping of its own per allocation, with an
// inaccessible guard page after it (an access past the end faults and names the kernel), and
// freed mappings kept inaccessible for a while, so that no host allocation can take their
// addresses and a use of freed memory faults instead of reading a neighbour's data.
size_t page_size() {
  static const size_t p = (size_t)sysconf(_SC_PAGESIZE);
  return p;
}
size_t mapped_bytes(size_t bytes) {
  return (bytes + page_size() - 1) / page_size() * page_size() + page_size();
}
void* map_device_memory(size_t bytes) {
#if defined(ALIGN_EMU_ASAN)
  void* p = nullptr;
  return posix_memalign(&p, 256, bytes) == 0 ? p : nullptr;
#else
  const size_t total = mapped_bytes(bytes);
  void* p = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  mprotect(static_cast<char*>(p) + total - page_size(), page_size(), PROT_NONE);
  return p;
#endif
}
void quarantine_device_memory(const Allocation& a) {
  void* p = reinterpret_cast<void*>(a.base);
#if defined(ALIGN_EMU_ASAN)
  std::memset(p, 0xFF, a.bytes);
  std::free(p);
#else
  const size_t total = mapped_bytes(a.bytes);
  madvise(p, total, MADV_DONTNEED);  // give the pages back, keep the addresses
  mprotect(p, total, PROT_NONE);
#endif
}
void unmap_device_memory(const Allocation& a) {
#if !defined(ALIGN_EMU_ASAN)
  munmap(reinterpret_cast<void*>(a.base), mapped_bytes(a.bytes));
#else
  (void)a;
#endif
}

// Where a pointer lives, for the copy checks.
enum class Where { Host, Device, Freed };
Where where_is(const void* p) {
  Allocation a;
  if (find_allocation(p, &a)) return Where::Device;
  if (in_freed_memory(p)) return Where::Freed;
  return Where::Host;
}

bool stream_ok(cudaStream_t s) {
  if (s == nullptr) return true;  // the legacy default stream
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_streams.count(s) > 0;
}

// Checks a copy's pointers against its kind and the allocations; "" when it is valid.
std::string check_copy(const char* call, void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return "";
  const Where d = where_is(dst), s = where_is(src);
  auto name = [](Where w) {
    return w == Where::Device ? "device memory" : w == Where::Host ? "host memory" : "freed device memory";
  };
  if (d == Where::Freed || s == Where::Freed)
    return cat_str(call, ": the ", d == Where::Freed ? "destination " + hex(dst) : "source " + hex(src),
                   " is device memory that has been freed");
  bool want_dst_device, want_src_device;
  switch (kind) {
    case cudaMemcpyHostToHost:
      want_dst_device = false, want_src_device = false;
      break;
    case cudaMemcpyHostToDevice:
      want_dst_device = true, want_src_device = false;
      break;
    case cudaMemcpyDeviceToHost:
      want_dst_device = false, want_src_device = true;
      break;
    case cudaMemcpyDeviceToDevice:
      want_dst_device = true, want_src_device = true;
      break;
    case cudaMemcpyDefault:
      want_dst_device = d == Where::Device, want_src_device = s == Where::Device;
      break;
    default:
      return cat_str(call, ": unknown copy kind ", (int)kind);
  }
  static const char* kinds[] = {"cudaMemcpyHostToHost", "cudaMemcpyHostToDevice", "cudaMemcpyDeviceToHost",
                                "cudaMemcpyDeviceToDevice", "cudaMemcpyDefault"};
  if (want_dst_device != (d == Where::Device))
    return cat_str(call, ": kind ", kinds[kind], " but the destination ", hex(dst), " is ", name(d));
  if (want_src_device != (s == Where::Device))
    return cat_str(call, ": kind ", kinds[kind], " but the source ", hex(src), " is ", name(s));
  if (d == Where::Device) {
    const std::string e = check_device_range(dst, bytes, cat_str(call, " destination"));
    if (!e.empty()) return e;
  }
  if (s == Where::Device) {
    const std::string e = check_device_range(src, bytes, cat_str(call, " source"));
    if (!e.empty()) return e;
  }
  return "";
}

cudaError_t copy(const char* call, void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  if (const cudaError_t e = sticky_error()) return e;
  if (!stream_ok(stream))
    return fail(cudaErrorInvalidResourceHandle,
                cat_str(call, ": stream ", hex(stream), " was never created or has been destroyed"));
  const std::string problem = check_copy(call, dst, src, bytes, kind);
  if (!problem.empty()) return fail(cudaErrorInvalidValue, problem);
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t fill(const char* call, void* p, int value, size_t bytes, cudaStream_t stream) {
  if (const cudaError_t e = sticky_error()) return e;
  if (!stream_ok(stream))
    return fail(cudaErrorInvalidResourceHandle,
                cat_str(call, ": stream ", hex(stream), " was never created or has been destroyed"));
  if (bytes == 0) return cudaSuccess;
  const std::string problem = check_device_range(p, bytes, call);
  if (!problem.empty()) return fail(cudaErrorInvalidValue, problem);
  std::memset(p, value, bytes);
  return cudaSuccess;
}

}  // namespace

std::string hex(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

cudaError_t fail(cudaError_t error, const std::string& message) {
  std::fprintf(stderr, "software device: %s\n", message.c_str());
  std::fflush(stderr);
  tl_last = tl_message_error = error;
  tl_last_message = cat_str(error_text(error), ": ", message);
  return error;
}

cudaError_t fail_sticky(cudaError_t error, const std::string& message) {
  std::fprintf(stderr, "software device: %s\n", message.c_str());
  std::fflush(stderr);
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_sticky == cudaSuccess) {
    g_sticky = error;
    g_sticky_message = cat_str(error_text(error), ": ", message);
  }
  return g_sticky;
}

cudaError_t sticky_error() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_sticky;
}

bool find_allocation(const void* p, Allocation* out) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = g_live.upper_bound(a);
  if (it == g_live.begin()) return false;
  --it;
  if (a > it->second.base + it->second.bytes) return false;
  if (out) *out = it->second;
  return true;
}

bool in_freed_memory(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lock(g_mutex);
  for (const Allocation& f : g_freed)
    if (a >= f.base && a < f.base + f.bytes) {
#if defined(ALIGN_EMU_ASAN)
      return __asan_address_is_poisoned(p);  // the heap may have handed the range out again
#else
      return true;
#endif
    }
  return false;
}

std::string check_device_range(const void* p, size_t bytes, const std::string& what) {
  Allocation a;
  if (!find_allocation(p, &a))
    return in_freed_memory(p) ? cat_str(what, " ", hex(p), " is device memory that has been freed")
                              : cat_str(what, " ", hex(p), " is not device memory");
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p);
  if (begin + bytes > a.base + a.bytes)
    return cat_str(what, ": ", bytes, " bytes at ", hex(p), " run ", begin + bytes - (a.base + a.bytes),
                   " bytes past the end of its ", a.bytes, "-byte allocation");
  return "";
}

int current_device() {
  return tl_device;
}

}  // namespace emu

using namespace emu;

cudaError_t cudaGetDeviceCount(int* count) {
  *count = device_count();
  return device_count() > 0 ? cudaSuccess : fail(cudaErrorNoDevice, "ALIGN_EMU_DEVICES=0: no device");
}

cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= device_count())
    return fail(cudaErrorInvalidDevice, cat_str("cudaSetDevice(", device, "): there are ", device_count(), " devices"));
  tl_device = device;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  *device = tl_device;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (device < 0 || device >= device_count())
    return fail(cudaErrorInvalidDevice,
                cat_str("cudaGetDeviceProperties(", device, "): there are ", device_count(), " devices"));
  std::memset(p, 0, sizeof *p);
  std::snprintf(p->name, sizeof p->name, "align.cu software device (sm_90, H100 SXM limits)");
  p->totalGlobalMem = kH100Memory;
  p->sharedMemPerBlock = 48 << 10;
  p->sharedMemPerBlockOptin = 227 << 10;
  p->sharedMemPerMultiprocessor = 228 << 10;
  p->regsPerBlock = 65536;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = 1024, p->maxThreadsDim[1] = 1024, p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 2147483647, p->maxGridSize[1] = 65535, p->maxGridSize[2] = 65535;
  p->maxThreadsPerMultiProcessor = 2048;
  p->clockRate = 1980000;
  p->memoryClockRate = 2619000;
  p->memoryBusWidth = 5120;
  p->totalConstMem = 64 << 10;
  p->major = 9, p->minor = 0;
  p->multiProcessorCount = 132;
  p->l2CacheSize = 50 << 20;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* v) {
  *v = CUDART_VERSION;
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = CUDART_VERSION;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() {
  return sticky_error();
}
cudaError_t cudaDeviceReset() {
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** pointer, size_t bytes) {
  *pointer = nullptr;
  if (const cudaError_t e = sticky_error()) return e;
  if (bytes == 0) return cudaSuccess;
  const int dev = tl_device;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_used[dev] + bytes > kH100Memory)
      return fail(cudaErrorMemoryAllocation, cat_str("cudaMalloc(", bytes, " bytes): device ", dev, " has ",
                                                     kH100Memory - g_used[dev], " of ", kH100Memory, " bytes free"));
  }
  void* p = map_device_memory(bytes);
  if (!p) return fail(cudaErrorMemoryAllocation, cat_str("cudaMalloc(", bytes, " bytes): the host is out of memory"));
  std::memset(p, 0xFF, bytes);  // uninitialised device memory reads as NaN
  std::lock_guard<std::mutex> lock(g_mutex);
  const uintptr_t base = reinterpret_cast<uintptr_t>(p);
  g_live[base] = Allocation{base, bytes, dev};
  for (auto it = g_freed.begin(); it != g_freed.end();)  // the range is device memory again
    it = (it->base < base + bytes && base < it->base + it->bytes) ? g_freed.erase(it) : it + 1;
  g_used[dev] += bytes;
  if (g_used[dev] > g_peak[dev]) g_peak[dev] = g_used[dev];
  *pointer = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* pointer) {
  if (!pointer) return cudaSuccess;
  Allocation a;
  {
    std::unique_lock<std::mutex> lock(g_mutex);
    auto it = g_live.find(reinterpret_cast<uintptr_t>(pointer));
    if (it == g_live.end()) {
      bool freed = false;
      for (const Allocation& f : g_freed) freed |= f.base == reinterpret_cast<uintptr_t>(pointer);
      lock.unlock();
      return fail(cudaErrorInvalidValue,
                  freed ? cat_str("cudaFree(", hex(pointer), "): freed twice")
                        : cat_str("cudaFree(", hex(pointer), "): not the start of a device allocation"));
    }
    a = it->second;
    g_live.erase(it);
    g_used[a.device] -= a.bytes;
    g_freed.push_back(a);
    if (g_freed.size() > kFreedRemembered) {
      unmap_device_memory(g_freed.front());
      g_freed.pop_front();
    }
  }
  quarantine_device_memory(a);
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  std::lock_guard<std::mutex> lock(g_mutex);
  *total_bytes = kH100Memory;
  *free_bytes = kH100Memory - g_used[tl_device];
  return cudaSuccess;
}

size_t emuPeakAllocatedBytes() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_peak[tl_device];
}
void emuResetPeakAllocatedBytes() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_peak[tl_device] = g_used[tl_device];
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  return copy("cudaMemcpy", dst, src, bytes, kind, nullptr);
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  return copy("cudaMemcpyAsync", dst, src, bytes, kind, stream);
}
cudaError_t cudaMemset(void* p, int value, size_t bytes) {
  return fill("cudaMemset", p, value, bytes, nullptr);
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t stream) {
  return fill("cudaMemsetAsync", p, value, bytes, stream);
}

cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attributes, const void* pointer) {
  Allocation a;
  std::memset(attributes, 0, sizeof *attributes);
  if (find_allocation(pointer, &a)) {
    attributes->type = cudaMemoryTypeDevice;
    attributes->device = a.device;
    attributes->devicePointer = const_cast<void*>(pointer);
  } else {
    attributes->type = cudaMemoryTypeUnregistered;
    attributes->hostPointer = const_cast<void*>(pointer);
  }
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  return cudaStreamCreateWithFlags(stream, cudaStreamDefault);
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  *stream = new CUstream_st{flags, tl_device};
  std::lock_guard<std::mutex> lock(g_mutex);
  g_streams.insert(*stream);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_streams.erase(stream)) stream = nullptr;
  }
  if (!stream) return fail(cudaErrorInvalidResourceHandle, "cudaStreamDestroy: not a live stream");
  delete stream;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (!stream_ok(stream)) return fail(cudaErrorInvalidResourceHandle, "cudaStreamSynchronize: not a live stream");
  return sticky_error();
}
cudaError_t cudaStreamQuery(cudaStream_t stream) {
  if (!stream_ok(stream)) return fail(cudaErrorInvalidResourceHandle, "cudaStreamQuery: not a live stream");
  return sticky_error();
}

namespace {
bool event_ok(cudaEvent_t e) {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_events.count(e) > 0;
}
}  // namespace

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned) {
  if (!stream_ok(stream) || !event_ok(event))
    return fail(cudaErrorInvalidResourceHandle, "cudaStreamWaitEvent: not a live stream or event");
  return sticky_error();
}
cudaError_t cudaEventCreate(cudaEvent_t* event) {
  return cudaEventCreateWithFlags(event, cudaEventDefault);
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags) {
  *event = new CUevent_st{flags, false, {}};
  std::lock_guard<std::mutex> lock(g_mutex);
  g_events.insert(*event);
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_events.erase(event)) event = nullptr;
  }
  if (!event) return fail(cudaErrorInvalidResourceHandle, "cudaEventDestroy: not a live event");
  delete event;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!stream_ok(stream) || !event_ok(event))
    return fail(cudaErrorInvalidResourceHandle, "cudaEventRecord: not a live stream or event");
  event->recorded = true;
  event->time = std::chrono::steady_clock::now();
  return sticky_error();
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (!event_ok(event)) return fail(cudaErrorInvalidResourceHandle, "cudaEventSynchronize: not a live event");
  return sticky_error();
}
cudaError_t cudaEventQuery(cudaEvent_t event) {
  if (!event_ok(event)) return fail(cudaErrorInvalidResourceHandle, "cudaEventQuery: not a live event");
  return sticky_error();
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!event_ok(start) || !event_ok(end))
    return fail(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: not a live event");
  if ((start->flags | end->flags) & cudaEventDisableTiming)
    return fail(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: an event created with cudaEventDisableTiming");
  if (!start->recorded || !end->recorded)
    return fail(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: an event that was never recorded");
  *ms = std::chrono::duration<float, std::milli>(end->time - start->time).count();
  return cudaSuccess;
}

cudaError_t cudaGetLastError() {
  if (const cudaError_t e = sticky_error()) return e;
  const cudaError_t e = tl_last;
  tl_last = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() {
  if (const cudaError_t e = sticky_error()) return e;
  return tl_last;
}

const char* cudaGetErrorString(cudaError_t error) {
  // The last explanation of this error, when the emulator gave one (the line it printed).
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (error != cudaSuccess && error == g_sticky) return g_sticky_message.c_str();
  }
  if (error != cudaSuccess && error == tl_message_error) return tl_last_message.c_str();
  return error_text(error);
}
const char* cudaGetErrorName(cudaError_t error) {
  return error_name(error);
}
